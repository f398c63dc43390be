-- A HyperLogLog estimate of distinct users per day: never sum it across days.
select
    cast(project_id as {{ dbt.type_string() }}) as project_id,
    cast("date" as date) as "date",
    cast("count" as bigint) as returning_users
from {{ source('indigo', 'daily_returning_users') }}
