-- One row per (project_id, date) seen in any stream. A stream without that day leaves
-- its columns null (unknown), never 0: a zero day is a row the API served. A day is
-- partial when any of its rows was read before the platform's day ended.
with
messages as (select * from {{ ref('stg_indigo__messages') }}),
chats as (select * from {{ ref('stg_indigo__chats') }}),
returning_users as (select * from {{ ref('stg_indigo__returning_users') }}),
csat as (select * from {{ ref('stg_indigo__csat') }}),
ai_quality as (select * from {{ ref('stg_indigo__ai_quality') }}),
technical_errors as (select * from {{ ref('stg_indigo__technical_errors') }}),

days as (
    select project_id, "date" from messages
    union select project_id, "date" from chats
    union select project_id, "date" from returning_users
    union select project_id, "date" from csat
    union select project_id, "date" from ai_quality
    union select project_id, "date" from technical_errors
),

joined as (
    select
        days.project_id,
        days."date",
        -- The earliest read of the day's rows (each the latest load of its stream).
        least(
            {%- for name in ['messages', 'chats', 'returning_users', 'csat', 'ai_quality', 'technical_errors'] %}
            {{ name }}.extracted_at{{ ',' if not loop.last }}
            {%- endfor %}
        ) as first_extracted_at,
        chats.chats,
        messages.inbound_messages,
        messages.outbound_messages,
        messages.positive_feedback,
        messages.negative_feedback,
        messages.handover_requests,
        messages.handover_starts,
        csat.csat_responses,
        -- The day's average only where someone answered: Σ(n·avg)/Σn over one day.
        case when csat.csat_responses > 0 then csat.csat_avg end as csat_avg,
        ai_quality.ai_quality_scored,
        case when ai_quality.ai_quality_scored > 0 then ai_quality.ai_quality_avg end
            as ai_quality_avg,
        technical_errors.technical_errors,
        returning_users.returning_users
    from days
    {% for name in ['messages', 'chats', 'returning_users', 'csat', 'ai_quality', 'technical_errors'] -%}
    left join {{ name }}
        on {{ name }}.project_id = days.project_id and {{ name }}."date" = days."date"
    {% endfor %}
)

select
    project_id,
    "date",
    -- Rows loaded before the loader kept _sdc_extracted_at: partial when not yet past.
    coalesce(
        first_extracted_at < {{ indigo_day_end() }},
        "date" >= {{ indigo_platform_today() }}
    ) as is_partial,
    chats,
    inbound_messages,
    outbound_messages,
    positive_feedback,
    negative_feedback,
    {{ indigo_rate('feedback_positive_share') }} as feedback_positive_share,
    handover_requests,
    handover_starts,
    {{ indigo_rate('handover_request_rate') }} as handover_request_rate,
    {{ indigo_rate('handover_fulfilment_rate') }} as handover_fulfilment_rate,
    csat_responses,
    csat_avg,
    ai_quality_scored,
    ai_quality_avg,
    technical_errors,
    {{ indigo_rate('errors_per_1k_messages') }} as errors_per_1k_messages,
    returning_users
from joined
