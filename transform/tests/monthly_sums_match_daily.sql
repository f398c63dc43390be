-- Every count's monthly sum equals its daily sum, month by month.
{{ indigo_sums_match_daily('indigo__monthly_kpis', 'month') }}
