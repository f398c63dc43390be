{{ indigo_stage('daily_technical_errors', [('"count"', 'technical_errors', 'bigint')]) }}
