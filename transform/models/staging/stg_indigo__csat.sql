-- avg_score is null when no one answered (total = 0).
{{ indigo_stage('daily_csat', [
    ('total', 'csat_responses', 'bigint'),
    ('avg_score', 'csat_avg', 'double precision'),
]) }}
