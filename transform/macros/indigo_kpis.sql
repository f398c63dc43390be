{#- The KPI definitions, in one place: the daily mart and both period marts use them. -#}

{% macro indigo_count_columns() %}
    {#- Every count of the daily mart; the period marts keep these names for their sums. -#}
    {{ return([
        'chats', 'inbound_messages', 'outbound_messages', 'positive_feedback',
        'negative_feedback', 'handover_requests', 'handover_starts', 'csat_responses',
        'ai_quality_scored', 'technical_errors',
    ]) }}
{% endmacro %}

{% macro indigo_ratio(numerator, denominator, scale=1) -%}
    {#- A double precision ratio; null (never 0, never an error) when the denominator is 0 or null. -#}
    ({{ scale }} * cast({{ numerator }} as double precision))
        / nullif(cast({{ denominator }} as double precision), 0)
{%- endmacro %}

{% macro indigo_rates() %}
    {#- Each ratio of count columns: name -> (numerator, denominator, scale). -#}
    {{ return({
        'feedback_positive_share': ('positive_feedback', 'positive_feedback + negative_feedback', 1),
        'handover_request_rate': ('handover_requests', 'chats', 1),
        'handover_fulfilment_rate': ('handover_starts', 'handover_requests', 1),
        'errors_per_1k_messages': ('technical_errors', 'inbound_messages + outbound_messages', 1000),
    }) }}
{% endmacro %}

{% macro indigo_rate(name) -%}
    {%- set numerator, denominator, scale = indigo_rates()[name] -%}
    {{ indigo_ratio(numerator, denominator, scale) }}
{%- endmacro %}

{% macro indigo_utc_offset_hours() -%}
    {#- The platform's day boundary, in hours east of UTC: the var
        indigo_platform_utc_offset_hours, 0 by default (Indigo's days run midnight to
        midnight UTC). Its `date` is a day of that calendar. -#}
    {%- set hours = var('indigo_platform_utc_offset_hours', 0) -%}
    {%- if hours is not number or hours < -12 or hours > 14 -%}
        {{ exceptions.raise_compiler_error(
            "var indigo_platform_utc_offset_hours must be a number of hours from -12 to 14, not " ~ hours) }}
    {%- endif -%}
    {{ return(hours) }}
{%- endmacro %}

{% macro indigo_platform_today() -%}
    {#- The platform's current date, whatever the session time zone (PostgreSQL and DuckDB alike). -#}
    cast({{ dbt.dateadd('hour', indigo_utc_offset_hours(), "timezone('UTC', now())") }} as date)
{%- endmacro %}

{% macro indigo_day_end(column='"date"') -%}
    {#- When the platform's day ends, as a UTC timestamp (exclusive). -#}
    {{ dbt.dateadd('hour', 24 - indigo_utc_offset_hours(), 'cast(' ~ column ~ ' as timestamp)') }}
{%- endmacro %}

{% macro indigo_period_start(grain, column='"date"') -%}
    {#- Monday of the ISO week, or the month's first day. Via timestamp, not date:
        PostgreSQL would pick date_trunc(timestamptz) and apply the session time zone. -#}
    cast(date_trunc('{{ grain }}', cast({{ column }} as timestamp)) as date)
{%- endmacro %}

{% macro indigo_period_end(grain, start='period_start') -%}
    {#- The period's last calendar day, inclusive. -#}
    {%- if grain == 'week' -%}
        cast({{ dbt.dateadd('day', 6, start) }} as date)
    {%- elif grain == 'month' -%}
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, start)) }} as date)
    {%- else -%}
        {{ exceptions.raise_compiler_error("indigo_period_end: grain must be week or month, not " ~ grain) }}
    {%- endif -%}
{%- endmacro %}

{% macro indigo_period_kpis(grain) %}
with daily as (
    select
        *,
        {{ indigo_period_start(grain) }} as period_start
    from {{ ref('indigo__daily_kpis') }}
),

periods as (
    select
        project_id,
        period_start,
        -- A day counts when every selected stream has it; a deselected stream counts nothing.
        count(case when {% for stream in indigo_streams() -%}
            {{ indigo_all_streams()[stream] }} is not null{{ ' and ' if not loop.last }}
            {%- endfor %} then 1 end) as days_in_period,
        {% for stream, column in indigo_all_streams().items() -%}
        {% if stream in indigo_streams() -%}
        count({{ column }}) as {{ stream | replace('daily_', 'days_with_') }},
        {% else -%}
        cast(null as bigint) as {{ stream | replace('daily_', 'days_with_') }},
        {% endif -%}
        {% endfor -%}
        max(case when is_partial then 1 else 0 end) as has_partial_day,
        {% for column in indigo_count_columns() -%}
        cast(sum({{ column }}) as bigint) as {{ column }},
        {% endfor -%}
        -- Weighted by answers: a day without answers (null average) weighs nothing.
        sum(csat_responses * csat_avg) as csat_score_sum,
        sum(case when csat_avg is not null then csat_responses end) as csat_scored,
        sum(ai_quality_scored * ai_quality_avg) as ai_quality_score_sum,
        sum(case when ai_quality_avg is not null then ai_quality_scored end) as ai_quality_scored_with_avg,
        -- Daily distinct-user estimates cannot be added up into a period's distinct users.
        avg(cast(returning_users as double precision)) as returning_users_avg_daily,
        max(returning_users) as returning_users_max_daily
    from daily
    group by project_id, period_start
),

bounded as (
    select
        *,
        {{ indigo_period_end(grain) }} as period_end
    from periods
)

select
    project_id,
    period_start,
    period_end,
    cast(days_in_period as bigint) as days_in_period,
    (
        days_in_period = {{ dbt.datediff('period_start', 'period_end', 'day') }} + 1
        and has_partial_day = 0
    ) as is_complete_period,
    {% for column in indigo_count_columns() -%}
    {{ column }},
    {% endfor -%}
    {% for name in indigo_rates() -%}
    {{ indigo_rate(name) }} as {{ name }},
    {% endfor -%}
    {{ indigo_ratio('csat_score_sum', 'csat_scored') }} as csat_avg,
    {{ indigo_ratio('ai_quality_score_sum', 'ai_quality_scored_with_avg') }} as ai_quality_avg,
    returning_users_avg_daily,
    cast(returning_users_max_daily as bigint) as returning_users_max_daily,
    {% for stream in indigo_all_streams() -%}
    cast({{ stream | replace('daily_', 'days_with_') }} as bigint) as {{ stream | replace('daily_', 'days_with_') }}{{ ',' if not loop.last }}
    {% endfor -%}
from bounded
{% endmacro %}
