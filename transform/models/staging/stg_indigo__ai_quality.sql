-- avg_score is null when no answer was scored (total = 0).
{{ indigo_stage('daily_ai_quality', [
    ('total', 'ai_quality_scored', 'bigint'),
    ('avg_score', 'ai_quality_avg', 'double precision'),
]) }}
