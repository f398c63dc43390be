-- target-duckdb stores `date` as text and counts as HUGEINT; target-postgres as DATE
-- and bigint: cast both to one shape.
{{ indigo_stage('daily_messages', [
    ('inbound_messages', 'inbound_messages', 'bigint'),
    ('outbound_messages', 'outbound_messages', 'bigint'),
    ('positive_feedback', 'positive_feedback', 'bigint'),
    ('negative_feedback', 'negative_feedback', 'bigint'),
    ('ht_requests', 'handover_requests', 'bigint'),
    ('ht_starts', 'handover_starts', 'bigint'),
]) }}
