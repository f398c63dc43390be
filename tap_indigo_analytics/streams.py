"""The six Indigo daily endpoints: name, path, cursor parameter and fields — data only.

Paths and field names marked [inferred] in ``docs/api-contract.md`` live
here and nowhere else. If a real response disagrees, edit the declaration:
the tap fails loudly (naming the stream and the missing field) until it matches.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th

from tap_indigo_analytics.client import IndigoStream

#: A count's ``maximum``: targets size integer columns by it (bigint, not numeric or
#: HUGEINT). No ``minimum``: a negative count is kept with a warning (records.py), and a
#: validating target would reject the record.
MAX_COUNT = 2**63 - 1


def _count(name: str, description: str) -> th.Property[int]:
    return th.Property(
        name, th.IntegerType(maximum=MAX_COUNT), required=True, description=description
    )


def _score(description: str) -> th.Property[float]:
    return th.Property("avg_score", th.NumberType, description=description)


class DailyMessagesStream(IndigoStream):
    """Inbound/outbound message counts, feedback and human-takeover signals per day."""

    name = "daily_messages"
    path = "/rest/analytics/{project_id}/messages/daily"
    metrics = th.PropertiesList(
        _count("inbound_messages", "Messages sent by users to the agent."),
        _count("outbound_messages", "Messages sent by the agent to users."),
        _count("positive_feedback", "Thumb-up reactions."),
        _count("negative_feedback", "Thumb-down reactions."),
        _count("ht_requests", "Human takeover requests (Handover Block triggers)."),
        _count("ht_starts", "Human takeover sessions actually started."),
    )


class DailyChatsStream(IndigoStream):
    """Chat sessions started per day (today's value is computed live, partial)."""

    name = "daily_chats"
    path = "/rest/dashboard/{project_id}/chats/count"
    metrics = th.PropertiesList(_count("count", "Chat sessions started on the day."))  # [inferred]


class DailyReturningUsersStream(IndigoStream):
    """Distinct users active on the day who existed before it."""

    name = "daily_returning_users"
    path = "/rest/dashboard/{project_id}/users/unique-daily"  # prefix [inferred]
    cursor_param = "after"
    metrics = th.PropertiesList(
        _count("count", "Returning users: HyperLogLog estimate, about 2 % error."),  # [inferred]
    )


class DailyCsatStream(IndigoStream):
    """Aggregated in-chat CSAT survey answers per day."""

    name = "daily_csat"
    path = "/rest/analytics/{project_id}/csat/daily"  # prefix [inferred]
    metrics = th.PropertiesList(
        _count("total", "CSAT responses on the day."),
        _score("Weighted average CSAT, 1-5; null when total is 0."),
    )
    ranges: t.ClassVar[dict[str, tuple[float, float]]] = {"avg_score": (1, 5)}


class DailyAiQualityStream(IndigoStream):
    """The platform's automatic AI Quality score per day."""

    name = "daily_ai_quality"
    path = "/rest/analytics/{project_id}/ai_quality/daily"  # prefix and shape [inferred]
    metrics = th.PropertiesList(
        _count("total", "Answers scored on the day."),
        _score("Average AI Quality (grounding, relevance, resolution), 0-1; null when total is 0."),
    )
    ranges: t.ClassVar[dict[str, tuple[float, float]]] = {"avg_score": (0, 1)}


class DailyTechnicalErrorsStream(IndigoStream):
    """``api_error`` events (API Blocks, integrations, LLM calls) per day."""

    name = "daily_technical_errors"
    path = "/rest/analytics/{project_id}/errors/daily"  # prefix [inferred]
    metrics = th.PropertiesList(_count("count", "api_error events on the day."))  # [inferred]


STREAM_TYPES: tuple[type[IndigoStream], ...] = (
    DailyMessagesStream,
    DailyChatsStream,
    DailyReturningUsersStream,
    DailyCsatStream,
    DailyAiQualityStream,
    DailyTechnicalErrorsStream,
)
