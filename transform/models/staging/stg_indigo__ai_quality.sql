-- avg_score is null when no answer was scored (total = 0).
select
    cast(project_id as {{ dbt.type_string() }}) as project_id,
    cast("date" as date) as "date",
    cast(total as bigint) as ai_quality_scored,
    cast(avg_score as double precision) as ai_quality_avg
from {{ source('indigo', 'daily_ai_quality') }}
