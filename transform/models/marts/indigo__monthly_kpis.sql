{{ indigo_period_kpis('month') }}
