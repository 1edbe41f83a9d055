{#- What the landing files accepted since `relation` was last built hold: a dict with
    `files` (their paths, for read_parquet) and `scan_from` (YYYY-MM-DD, the earliest date
    among their rows; 9999-12-31, nothing to read, when there are no such files). Files accepted after the latest accepted_at in
    `relation` are new to it; files the audit accepted in one batch share one accepted_at, and
    a batch is accepted before dbt builds, so none is ever half-built.

    Run at execution time: the result is inlined into the model's SQL as literals, so DuckDB
    reads only the new files and can prune the date filter down to the Parquet scans (a
    subquery would be evaluated after the scans, over the whole history). -#}
{% macro price_changes_since(relation) -%}
    {%- set changes = {'files': [], 'scan_from': '9999-12-31'} -%}
    {%- if not execute -%}
        {{ return(changes) }}
    {%- endif -%}
    {%- set landing_dir = data_path('landing_prices') ~ '/' -%}
    {%- for name in landing_files_accepted_since(relation) -%}
        {%- do changes['files'].append(landing_dir ~ name) -%}
    {%- endfor -%}
    {%- if changes['files'] -%}
        {%- set first_date_query -%}
            select min(cast(date as date)) from {{ landing_rows(changes['files']) }}
        {%- endset -%}
        {%- set first_date = run_query(first_date_query).columns[0].values()[0] -%}
        {%- if first_date is not none -%}
            {%- do changes.update({'scan_from': first_date | string}) -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(changes) }}
{%- endmacro %}

{#- The names of the landing files the ledger accepted after the latest accepted_at in
    `relation` (all of them when `relation` is empty), in name order. -#}
{% macro landing_files_accepted_since(relation) -%}
    {{ return(adapter.dispatch('landing_files_accepted_since')(relation)) }}
{%- endmacro %}

{% macro default__landing_files_accepted_since(relation) -%}
    {%- set ledger_glob = data_path('ledger_accepted') ~ '/*.parquet' -%}
    {%- set ledger_files = run_query(
        "select count(*) from glob('" ~ ledger_glob ~ "')"
    ).columns[0].values()[0] -%}
    {%- if ledger_files == 0 -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(run_query(
        "select distinct landing_file from read_parquet('" ~ ledger_glob ~ "') "
        ~ "where accepted_at > (select coalesce(max(accepted_at), '-infinity'::timestamptz) "
        ~ "from " ~ relation ~ ") order by landing_file"
    ).columns[0].values() | list) }}
{%- endmacro %}

{#- A list of SQL string literals, quotes escaped: ['a', 'b']. -#}
{% macro sql_string_list(values) -%}
    [{%- for value in values -%}
        '{{ value | replace("'", "''") }}'{{ ', ' if not loop.last }}
    {%- endfor -%}]
{%- endmacro %}

{#- The rows of the landing files at `paths` (ticker, date, price_source...), or no rows when
    there are none: read_parquet fails on an empty list. -#}
{% macro landing_rows(paths) -%}
    {{ return(adapter.dispatch('landing_rows')(paths)) }}
{%- endmacro %}

{% macro default__landing_rows(paths) -%}
    {%- if paths -%}
        read_parquet({{ sql_string_list(paths) }})
    {%- else -%}
        (
            select
                cast(null as string) as ticker,
                cast(null as date) as date,
                cast(null as string) as price_source
            where false
        )
    {%- endif -%}
{%- endmacro %}


{#- Spark: the same names from the ledger folder's Spark table (macros/cross_engine.sql,
    external_source), which, unlike DuckDB's glob, reads an empty folder as no rows. -#}
{% macro spark__landing_files_accepted_since(relation) -%}
    {%- set new_files_query -%}
        with built as (
            select max(accepted_at) as accepted_at from {{ relation }}
        )
        select distinct ledger.landing_file
        from {{ source('quality', 'ledger_accepted') }} as ledger
        cross join built
        where built.accepted_at is null or ledger.accepted_at > built.accepted_at
        order by ledger.landing_file
    {%- endset -%}
    {{ return(run_query(new_files_query).columns[0].values() | list) }}
{%- endmacro %}

{#- Spark: the rows of the landing folder's table whose file is named like one at `paths`;
    Spark SQL reads a folder, not a list of files, so they are picked by _metadata.file_name. -#}
{% macro spark__landing_rows(paths) -%}
    (
        select
            ticker,
            date,
            price_source
        from {{ source('landing', 'prices') }}
        where
            {% if paths -%}
                _metadata.file_name in (
                    {%- for path in paths -%}
                        '{{ path.split('/')[-1] | replace("'", "''") }}'{{ ', ' if not loop.last }}
                    {%- endfor -%}
                )
            {%- else -%}
                false
            {%- endif %}
    )
{%- endmacro %}
