-- A HyperLogLog estimate of distinct users per day: never sum it across days.
{{ indigo_stage('daily_returning_users', [('"count"', 'returning_users', 'bigint')]) }}
