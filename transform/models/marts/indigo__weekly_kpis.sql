{{ indigo_period_kpis('week') }}
