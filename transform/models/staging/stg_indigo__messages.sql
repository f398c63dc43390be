-- target-duckdb stores `date` as text and counts as HUGEINT; target-postgres as DATE
-- and bigint: cast both to one shape.
select
    cast(project_id as {{ dbt.type_string() }}) as project_id,
    cast("date" as date) as "date",
    cast(inbound_messages as bigint) as inbound_messages,
    cast(outbound_messages as bigint) as outbound_messages,
    cast(positive_feedback as bigint) as positive_feedback,
    cast(negative_feedback as bigint) as negative_feedback,
    cast(ht_requests as bigint) as handover_requests,
    cast(ht_starts as bigint) as handover_starts
from {{ source('indigo', 'daily_messages') }}
