"""Live contract check: does the real API still answer as ``docs/api-contract.md`` says?

Several parts of the contract are [inferred] (paths, envelope keys, field names).
This asks each of the six endpoints once, with the tap's own config, for the last
two days, and prints one line per endpoint: reachable, auth, envelope, fields.
It reads the endpoint table from the stream classes and the envelope rules from
``envelope.py``, so it checks exactly what the tap relies on and never drifts.

    tap-indigo-analytics-check --config config.json [--all-workspaces]
    tap-indigo-analytics-check --config ENV        # TAP_INDIGO_ANALYTICS_* variables

Exit status: 0 when every endpoint matches, 1 when one does not, 2 on a bad config.
No retries, on purpose: the point is to see what the API answers. The token is
never printed (every line goes through ``redact()``, in case a server echoes it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import typing as t
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import quote

import requests

from tap_indigo_analytics.envelope import TOTAL_KEYS, parse_page
from tap_indigo_analytics.errors import ResponseShapeError, TransientAPIError, vendor_message
from tap_indigo_analytics.inputs import InputError, load_config
from tap_indigo_analytics.jsontypes import fits, schema_types
from tap_indigo_analytics.ratelimit import RequestBudgets
from tap_indigo_analytics.redact import redact
from tap_indigo_analytics.settings import CONFIG_SCHEMA, Settings, SettingsError, Workspace
from tap_indigo_analytics.streams import STREAM_TYPES

if t.TYPE_CHECKING:
    from tap_indigo_analytics.client import IndigoStream

#: Days asked for: yesterday and today (``to`` is exclusive), in one page.
DAYS = 2


@dataclass
class Outcome:
    """What one endpoint answered, judged against the contract."""

    stream: str
    project_id: str
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing differs from the contract."""
        return not self.problems

    def line(self) -> str:
        """One line for the terminal."""
        verdict = "OK  " if self.ok else "FAIL"
        return f"{verdict} {self.stream:<23} {self.project_id}: " + "; ".join(self.notes)


def expected_fields(stream_type: type[IndigoStream]) -> dict[str, dict[str, t.Any]]:
    """Row fields the tap requires, with their JSON schema: ``date`` plus the metrics."""
    metrics: dict[str, dict[str, t.Any]] = stream_type.metrics.to_dict()["properties"]
    return {"date": {"type": ["string"], "format": "date"}, **metrics}


def declared(stream_type: type[IndigoStream], attribute: str) -> str:
    """A stream class's ``name`` or ``path`` (typed as instance attributes in the SDK)."""
    value = getattr(stream_type, attribute)
    assert isinstance(value, str)
    return value


def check_endpoint(
    session: requests.Session,
    settings: Settings,
    workspace: Workspace,
    stream_type: type[IndigoStream],
    today: dt.date,
) -> Outcome:
    """Ask one endpoint for the last ``DAYS`` days and judge the answer."""
    name = declared(stream_type, "name")
    template = declared(stream_type, "path")
    outcome = Outcome(name, workspace.project_id)
    # The same substitution the SDK makes for ``{project_id}`` (URL-encoded).
    path = template.replace("{project_id}", quote(workspace.project_id, safe=""))
    start = today - dt.timedelta(days=DAYS - 1)
    params: dict[str, str | int] = {
        "from": start.isoformat(),
        "to": (today + dt.timedelta(days=1)).isoformat(),
        "limit": DAYS,
    }
    try:
        response = session.get(
            settings.base_url + path,
            params=params,
            auth=workspace.auth,
            timeout=settings.request_timeout,
        )
    except requests.RequestException as exc:
        # The exception text carries only the URL (no headers), but keep it short.
        outcome.problems.append("unreachable")
        outcome.notes.append(f"unreachable ({type(exc).__name__}) at {settings.base_url}")
        return outcome
    outcome.notes.append("reachable")

    status = response.status_code
    if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
        outcome.problems.append("auth")
        hint = "check the token" if status == HTTPStatus.UNAUTHORIZED else "token not of this id"
        outcome.notes.append(f"auth failed ({status} {vendor_message(response)}; {hint})")
        return outcome
    outcome.notes.append("auth ok")
    if status != HTTPStatus.OK:
        outcome.problems.append("status")
        extra = ""
        if status == HTTPStatus.NOT_FOUND:
            extra = f" — is the path {template} right?"
        outcome.notes.append(f"HTTP {status} ({vendor_message(response)}){extra}")
        return outcome

    try:
        page = parse_page(response, name)
    except (ResponseShapeError, TransientAPIError) as exc:
        outcome.problems.append("envelope")
        outcome.notes.append(f"envelope differs: {exc}")
        return outcome
    metadata = response.json()["metadata"]  # parse_page checked it is an object
    if not any(key in metadata for key in TOTAL_KEYS):
        outcome.problems.append("envelope")
        outcome.notes.append(
            f"envelope differs: metadata has none of {', '.join(TOTAL_KEYS)} "
            f"(keys: {', '.join(sorted(metadata))})"
        )
    else:
        outcome.notes.append("envelope ok")
    if page.next_cursor is not None:
        outcome.notes.append(f"next_cursor set although limit={DAYS} covers the range")

    if not page.rows:
        outcome.problems.append("rows")
        outcome.notes.append("no rows (days are zero-filled, expected one per day)")
        return outcome
    _judge_fields(outcome, expected_fields(stream_type), page.rows)
    return outcome


def _judge_fields(
    outcome: Outcome, expected: dict[str, dict[str, t.Any]], rows: list[dict[str, t.Any]]
) -> None:
    seen = {name for row in rows for name in row}
    missing = sorted(name for name in expected if any(name not in row for row in rows))
    unknown = sorted(seen - expected.keys())
    mistyped = sorted(
        f"{name} ({type(row[name]).__name__})"
        for name, schema in expected.items()
        for row in rows
        if name in row and not fits(row[name], schema_types(schema))
    )
    if missing or unknown or mistyped:
        outcome.problems.append("fields")
        parts = [f"missing: {', '.join(missing)}"] if missing else []
        parts += [f"unknown: {', '.join(unknown)}"] if unknown else []
        parts += [f"wrong type: {', '.join(dict.fromkeys(mistyped))}"] if mistyped else []
        outcome.notes.append("fields differ — " + "; ".join(parts))
    else:
        outcome.notes.append(f"fields ok ({len(expected)}, {len(rows)} rows)")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="tap-indigo-analytics-check",
        description="Ask each Indigo endpoint once and compare the answer with the contract.",
    )
    parser.add_argument(
        "--config",
        action="append",
        required=True,
        metavar="FILE",
        help="the tap's config JSON (repeatable, merged in order), or ENV",
    )
    parser.add_argument(
        "--all-workspaces",
        action="store_true",
        help="check every configured workspace (default: the first only)",
    )
    args = parser.parse_args(argv)

    today = dt.datetime.now(dt.timezone.utc).date()
    try:
        settings = Settings.parse(load_config(args.config, CONFIG_SCHEMA), today=today)
    except (SettingsError, InputError) as exc:
        # Config values were never registered as tokens: blank them out as they are.
        for line in str(exc).splitlines():
            print(redact(line), file=sys.stderr)
        return 2

    workspaces = settings.workspaces if args.all_workspaces else settings.workspaces[:1]
    # Stay under the per-token budget even when many workspaces share a token.
    budgets = RequestBudgets(
        settings.requests_per_minute, window_seconds=settings.rate_limit_window_seconds
    )
    outcomes: list[Outcome] = []
    print(f"Checking {settings.base_url} for {today - dt.timedelta(days=DAYS - 1)}..{today}")
    with requests.Session() as session:
        for workspace in workspaces:
            for stream_type in STREAM_TYPES:
                budgets.acquire(workspace.token_key)
                outcome = check_endpoint(session, settings, workspace, stream_type, today)
                outcomes.append(outcome)
                print(redact(outcome.line()), flush=True)

    failed = [o for o in outcomes if not o.ok]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} endpoint checks failed.")
        if any({"envelope", "fields"} & set(o.problems) for o in failed):
            # The [inferred] parts of the contract live in exactly these two places.
            print("The API differs from the contract: update tap_indigo_analytics/streams.py")
            print("(paths, fields) or envelope.py (envelope keys) to match it.")
        return 1
    print(f"All {len(outcomes)} endpoint checks match the contract.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
