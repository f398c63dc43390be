"""The tap's settings as users, Meltano and Airbyte see them: one JSON schema.

Names, defaults, bounds and descriptions live here once; ``--about``, the README's
table, meltano.yml and the Hub definition are kept equal to it by tests. What a schema
cannot say is checked in settings.py.
"""

from __future__ import annotations

from typing import Any

from singer_sdk import typing as th

DEFAULT_BASE_URL = "https://platform.indigo.ai"
#: The API's largest page and longest range per request.
MAX_DAYS_PER_REQUEST = 365
#: Indigo's documented limit per token.
DEFAULT_REQUESTS_PER_MINUTE = 100
#: Days before the bookmark read again by default: the platform refreshes its aggregates
#: after the fact, and a client's midnight can come before the server's.
DEFAULT_LOOKBACK_DAYS = 2
MAX_LOOKBACK_DAYS = 3650
#: ``max_concurrency`` when unset: enough for one workspace's six streams, growing with
#: the workspaces (each has its own token and budget) up to where one process's CPU is
#: the limit (benchmarks/README.md).
DEFAULT_CONCURRENCY, WORKSPACES_PER_WORKER, MAX_DEFAULT_CONCURRENCY = 8, 4, 64

CONFIG_SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "pat",
        th.StringType,
        secret=True,
        title="Personal access token",
        description=(
            "Indigo personal access token of the workspace `project_id`, with or "
            "without its `pat-` prefix. Use `workspaces` instead for several workspaces."
        ),
    ),
    th.Property(
        "project_id",
        th.StringType,
        title="Workspace (project) id",
        description="The workspace to read, as in the API path `/{project_id}/`.",
    ),
    th.Property(
        "workspaces",
        th.ArrayType(
            th.ObjectType(
                th.Property("project_id", th.StringType, required=True),
                th.Property("pat", th.StringType, required=True, secret=True),
            )
        ),
        title="Workspaces",
        description=(
            "Several workspaces, each `{project_id, pat}` (a PAT belongs to one "
            "workspace). Replaces `pat` and `project_id`."
        ),
    ),
    th.Property(
        "start_date",
        th.DateType,
        title="Start date",
        description=(
            "First day to read when there is no bookmark: YYYY-MM-DD, or an ISO date-time "
            "(2026-11-01T00:00:00Z), whose UTC date is used. "
            "Default: the last 365 days, today included."
        ),
    ),
    th.Property(
        "end_date",
        th.DateType,
        title="End date",
        description=(
            "Last day to read, inclusive: YYYY-MM-DD, or an ISO date-time, whose UTC date "
            "is used. Default: today (UTC)."
        ),
    ),
    th.Property(
        "lookback_days",
        th.IntegerType(minimum=0, maximum=MAX_LOOKBACK_DAYS),
        default=DEFAULT_LOOKBACK_DAYS,
        title="Lookback days",
        description=(
            "Days before the bookmark to read again on incremental runs, 0-3650, so the "
            "platform's late corrections reach the warehouse. It costs no extra request "
            "(one request covers up to 365 days). The bookmark day itself is always read again."
        ),
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=MAX_DAYS_PER_REQUEST),
        default=MAX_DAYS_PER_REQUEST,
        title="Page size",
        description="Days per request (`limit`), 1-365. 365 needs the fewest requests.",
    ),
    th.Property(
        "base_url",
        th.StringType,
        default=DEFAULT_BASE_URL,
        title="Base URL",
        description="API root. https only, except loopback hosts (the local emulator).",
    ),
    th.Property(
        "requests_per_minute",
        th.IntegerType(minimum=1),
        default=DEFAULT_REQUESTS_PER_MINUTE,
        title="Requests per minute",
        description="Request budget per token, shared by all streams (Indigo allows 100).",
    ),
    th.Property(
        "rate_limit_window_seconds",
        th.IntegerType(minimum=1),
        default=60,
        title="Rate limit window seconds",
        description=(
            "Length of the sliding window `requests_per_minute` applies to (Indigo's is "
            "60 s). Leave at 60; shorter windows are for tests against the local emulator."
        ),
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=60,
        title="Request timeout",
        description=(
            "Seconds one try may take in all: connecting, the headers and the whole body. "
            "A try that runs over counts as a timeout and is retried."
        ),
    ),
    th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=256),
        title="Max concurrency",
        description=(
            "Requests in flight at once across all workspaces, 1-256 (1: one at a time). "
            "Each token still keeps to its own `requests_per_minute`. Default: 8, and one "
            "per 4 workspaces beyond 32 workspaces, at most 64."
        ),
    ),
    th.Property(
        "shard",
        th.StringType,
        title="Shard",
        description=(
            "`K/N` (e.g. `2/4`): read only the K-th of N shares of the configured "
            "workspaces, chosen by a stable hash of `project_id`, so that N runs, each "
            "with its own state, split them; together they read every workspace once. "
            "Unset: all workspaces."
        ),
    ),
    th.Property(
        "state_interval_seconds",
        th.IntegerType(minimum=1, maximum=3600),
        default=10,
        title="State interval seconds",
        description=(
            "Emit a STATE message at most this often during a stream, 1-3600 (plus one at "
            "the end of each stream), so a long run can resume where it stopped. A state "
            "over 1 MB (thousands of workspaces) waits 1 s per 100 kB instead, and then "
            "only the last stream's end adds one."
        ),
    ),
    th.Property(
        "max_tries",
        th.IntegerType(minimum=1, maximum=20),
        default=6,
        title="Tries per request",
        description="Attempts per request on 5xx, timeouts and broken responses.",
    ),
    th.Property(
        "fail_fast",
        th.BooleanType,
        default=False,
        title="Fail fast",
        description=(
            "Stop the whole run at the first failure. By default a revoked token stops only "
            "its workspace and any other failure only its (stream, workspace) pair: the rest "
            "syncs, then the run ends with one ERROR line per failure and exit status 1."
        ),
    ),
    th.Property(
        "ca_bundle",
        th.StringType,
        title="CA bundle",
        description=(
            "Path to a PEM file of CA certificates to trust instead of the default ones (a "
            "private or TLS-inspecting CA). Default: REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE or "
            "SSL_CERT_FILE when set, else the certifi bundle."
        ),
    ),
    th.Property(
        "backoff_seconds",
        th.IntegerType(minimum=0),
        default=2,
        title="Backoff seconds",
        description=(
            "First wait after a transient error; it doubles each try, up to 60 s, "
            "with ±50 % jitter."
        ),
    ),
).to_dict()


#: This tap's own settings, judged by ``Settings.parse`` (the SDK adds its built-in ones,
#: stream maps and the like, to CONFIG_SCHEMA in place when the tap starts).
SETTING_NAMES: frozenset[str] = frozenset(CONFIG_SCHEMA["properties"])
