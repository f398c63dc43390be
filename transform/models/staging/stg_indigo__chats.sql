select
    cast(project_id as {{ dbt.type_string() }}) as project_id,
    cast("date" as date) as "date",
    cast("count" as bigint) as chats
from {{ source('indigo', 'daily_chats') }}
