-- MetricFlow's day-grain time spine (the semantic layer needs one; dbt packages are out
-- of reach, so no dbt_utils.date_spine). Plain SQL that DuckDB and PostgreSQL both run.
-- Simple and ratio metrics never join it; it is there for time-spine features
-- (fill_nulls_with, cumulative metrics), so a wide fixed range costs nothing.
select cast(day_start as date) as date_day
from generate_series(
    cast('2000-01-01' as timestamp),
    cast('2099-12-31' as timestamp),
    interval '1 day'
) as spine(day_start)
