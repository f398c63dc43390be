-- avg_score is null when no one answered (total = 0).
select
    cast(project_id as {{ dbt.type_string() }}) as project_id,
    cast("date" as date) as "date",
    cast(total as bigint) as csat_responses,
    cast(avg_score as double precision) as csat_avg
from {{ source('indigo', 'daily_csat') }}
