{#- Which streams are loaded, and the staging of one stream: one row per (project_id, date),
    the latest load. -#}

{% macro indigo_all_streams() %}
    {#- Stream table -> the daily mart column whose non-null value says the stream has the day. -#}
    {{ return({
        'daily_messages': 'inbound_messages',
        'daily_chats': 'chats',
        'daily_returning_users': 'returning_users',
        'daily_csat': 'csat_responses',
        'daily_ai_quality': 'ai_quality_scored',
        'daily_technical_errors': 'technical_errors',
    }) }}
{% endmacro %}

{% macro indigo_streams() %}
    {#- The selected streams: the var `indigo_streams` (or DBT_INDIGO_STREAMS), comma-separated;
        all six by default. _indigo__sources.yml reads the same var to disable a source. -#}
    {%- set raw = var('indigo_streams', env_var('DBT_INDIGO_STREAMS', indigo_all_streams() | join(','))) -%}
    {%- set chosen = raw.replace(' ', '').split(',') | reject('equalto', '') | list -%}
    {%- set unknown = chosen | reject('in', indigo_all_streams()) | list -%}
    {%- if unknown or not chosen -%}
        {{ exceptions.raise_compiler_error(
            "var indigo_streams (DBT_INDIGO_STREAMS) must list streams among "
            ~ (indigo_all_streams() | join(', ')) ~ ", comma-separated; got '" ~ raw ~ "'") }}
    {%- endif -%}
    {{ return(chosen) }}
{% endmacro %}

{% macro indigo_stage(stream, columns) %}
{#- ``columns``: (source column, staging name, type) besides project_id and date. A selected
    stream: its latest load of each (project_id, date), by the loader's _sdc_extracted_at
    (append-only or retried loads leave several copies). A stream left out of
    `indigo_streams`: no rows, the same columns, so the marts build with its columns null. -#}
{%- if stream in indigo_streams() %}
{%- set relation = source('indigo', stream) %}
with loads as (
    select
        cast(project_id as {{ dbt.type_string() }}) as project_id,
        cast("date" as date) as "date",
        {% for source_column, name, type in columns -%}
        cast({{ source_column }} as {{ type }}) as {{ name }},
        {% endfor -%}
        -- UTC with both loaders (target-duckdb stamps _sdc_batched_at in local time).
        cast(_sdc_extracted_at as timestamp) as extracted_at,
        row_number() over (
            partition by project_id, cast("date" as date)
            order by _sdc_extracted_at desc nulls last, _sdc_batched_at desc nulls last
        ) as load_rank
    from {{ relation }}
)

select
    project_id,
    "date",
    {% for _, name, _ in columns -%}
    {{ name }},
    {% endfor -%}
    extracted_at
from loads
where load_rank = 1
{%- else %}
-- {{ stream }} is not in the var indigo_streams: no rows, the same columns.
select
    cast(null as {{ dbt.type_string() }}) as project_id,
    cast(null as date) as "date",
    {% for _, name, type in columns -%}
    cast(null as {{ type }}) as {{ name }},
    {% endfor -%}
    cast(null as timestamp) as extracted_at
where 1 = 0
{%- endif %}
{% endmacro %}

{% macro indigo_check_sources() %}
{#- on-run-start: each selected stream's table is there with the loader's metadata, or the
    run stops with one line saying what to do (before any test or model runs). -#}
{%- if execute -%}
{%- for stream in indigo_streams() -%}
    {%- set relation = source('indigo', stream) -%}
    {%- set found = adapter.get_relation(relation.database, relation.schema, relation.identifier) -%}
    {%- if found is none -%}
        {{ exceptions.raise_compiler_error(
            "source table " ~ relation.schema ~ "." ~ relation.identifier ~ " not found: load the "
            ~ "stream " ~ stream ~ ", or leave it out of the dbt var indigo_streams (DBT_INDIGO_STREAMS)") }}
    {%- endif -%}
    {%- set names = adapter.get_columns_in_relation(found) | map(attribute='name') | map('lower') | list -%}
    {%- if '_sdc_extracted_at' not in names -%}
        {{ exceptions.raise_compiler_error(
            "source table " ~ relation.schema ~ "." ~ relation.identifier ~ " has no _sdc_extracted_at "
            ~ "column: turn on the loader's metadata columns (target-duckdb add_metadata_columns, "
            ~ "target-postgres add_record_metadata) and load again") }}
    {%- endif -%}
{%- endfor -%}
{%- endif -%}
{% endmacro %}
