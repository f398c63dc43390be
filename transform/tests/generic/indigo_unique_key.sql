{#- No row shares its key columns with another (dbt_utils' unique_combination_of_columns,
    which we cannot install: dbt Hub is out of reach). -#}
{% test indigo_unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
