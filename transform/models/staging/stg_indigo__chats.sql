{{ indigo_stage('daily_chats', [('"count"', 'chats', 'bigint')]) }}
