-- Every count's weekly sum equals its daily sum, week by week.
{{ indigo_sums_match_daily('indigo__weekly_kpis', 'week') }}
