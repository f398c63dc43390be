{#- Rows where a period mart's sum of a count differs from the daily mart's sum over
    the same period (both null counts as equal). Used by the singular tests. -#}
{% macro indigo_sums_match_daily(period_model, grain) %}
with daily as (
    select
        project_id,
        {{ indigo_period_start(grain) }} as period_start,
        {% for column in indigo_count_columns() -%}
        cast(sum({{ column }}) as bigint) as {{ column }}{{ ',' if not loop.last }}
        {% endfor %}
    from {{ ref('indigo__daily_kpis') }}
    group by 1, 2
)

select coalesce(daily.project_id, period.project_id) as project_id,
       coalesce(daily.period_start, period.period_start) as period_start
from daily
full outer join {{ ref(period_model) }} as period
    on period.project_id = daily.project_id and period.period_start = daily.period_start
where daily.project_id is null
    or period.project_id is null
    {% for column in indigo_count_columns() -%}
    or daily.{{ column }} is distinct from period.{{ column }}
    {% endfor %}
{% endmacro %}
