{#- Engine-specific SQL of the models, one macro per difference, dispatched on the adapter:
    `dev` runs on DuckDB (dbt-duckdb), `spark` on Spark SQL (dbt-spark, ANSI mode off). The
    models themselves use SQL both engines accept; each macro says why it exists. -#}

{#- A timestamp that is an instant in UTC. DuckDB has `timestamptz`; Spark's `timestamp` is
    one already (TIMESTAMP_LTZ, shown in the session's zone, UTC) and has no `timestamptz`. -#}
{% macro timestamp_tz_type() -%}
    {{ return(adapter.dispatch('timestamp_tz_type')()) }}
{%- endmacro %}

{% macro default__timestamp_tz_type() -%}
    timestamptz
{%- endmacro %}

{% macro spark__timestamp_tz_type() -%}
    timestamp
{%- endmacro %}

{#- `with name as {{ inlined() }} (...)`: a CTE DuckDB inlines into every query that reads it,
    instead of materializing it once when it is referenced twice. int_prices__audited reads the
    landing files in two branches (the rows, and the tickers with real prices): materialized,
    every landed row of every column was buffered before a date filter of the incremental price
    model could reach the Parquet scans (a new day of the whole market: 7.7 s for the model's
    select; inlined, 1.1 s, and the full read 16 s to 7.6 s). Spark plans CTEs inline already
    and has no such keyword. -#}
{% macro inlined() -%}
    {{ return(adapter.dispatch('inlined')()) }}
{%- endmacro %}

{% macro default__inlined() -%}
    not materialized
{%- endmacro %}

{% macro spark__inlined() -%}
{%- endmacro %}

{#- The base name of a file path (as the landing ledger records it). DuckDB has
    parse_filename; on Spark the path is a URI from _metadata.file_path (file:/...). -#}
{% macro file_name(path) -%}
    {{ return(adapter.dispatch('file_name')(path)) }}
{%- endmacro %}

{% macro default__file_name(path) -%}
    parse_filename({{ path }})
{%- endmacro %}

{% macro spark__file_name(path) -%}
    regexp_extract({{ path }}, '[^/]*$', 0)
{%- endmacro %}

{#- The name of the function that fails the query with its message when evaluated (used as
    `{{ error_function() }}(message)`): DuckDB's error(), Spark's raise_error(). -#}
{% macro error_function() -%}
    {{ return(adapter.dispatch('error_function')()) }}
{%- endmacro %}

{% macro default__error_function() -%}
    {{ return('error') }}
{%- endmacro %}

{% macro spark__error_function() -%}
    {{ return('raise_error') }}
{%- endmacro %}

{#- The product of a double expression's non-null values (NULL when there are none), as an
    aggregate or, with `over` (a window spec without parentheses), a window function. DuckDB
    has product(); Spark SQL has none, so it folds the collected values in their order. -#}
{% macro product_of(expression, over=none) -%}
    {{ return(adapter.dispatch('product_of')(expression, over)) }}
{%- endmacro %}

{% macro default__product_of(expression, over) -%}
    product({{ expression }}){% if over %} over ({{ over }}){% endif %}
{%- endmacro %}

{% macro spark__product_of(expression, over) -%}
    aggregate(
        collect_list({{ expression }}){% if over %} over ({{ over }}){% endif %},
        cast(null as double),
        (product, value) -> coalesce(product, 1.0D) * value
    )
{%- endmacro %}

{#- `asof left join` of `relation` (as `alias`): each left row gets the right row with the
    greatest `right_date` on or before `left_date` (and equal `keys`: pairs of a left
    expression and a right column), or NULLs. DuckDB has ASOF joins. Spark has none: each
    right row is valid from its date until the next one's (lead), and the join picks the one
    row whose validity holds the left date. So that Spark plans an equi-join (a hash or sort
    merge join, not a nested loop over every pair; Spark 4 with adaptive execution also
    fails to ship a nested loop join over a union of literal rows, as unit tests give), each
    right row is repeated for every calendar year its validity spans (the last row's until
    next year) and joined on the left date's year. The right side must be unique per keys
    and date (prices are, per ticker and date). -#}
{% macro asof_left_join(relation, alias, left_date, right_date, keys=[]) -%}
    {{ return(adapter.dispatch('asof_left_join')(relation, alias, left_date, right_date, keys)) }}
{%- endmacro %}

{% macro default__asof_left_join(relation, alias, left_date, right_date, keys) -%}
    asof left join {{ relation }}{% if alias != relation %} as {{ alias }}{% endif %}
        on
            {% for left, right in keys -%}
                {{ left }} = {{ alias }}.{{ right }}
                and {% endfor -%}
            {{ left_date }} >= {{ alias }}.{{ right_date }}
{%- endmacro %}

{% macro spark__asof_left_join(relation, alias, left_date, right_date, keys) -%}
    left join (
        select
            *,
            explode(sequence(
                year({{ right_date }}),
                coalesce(year(asof_valid_until), year(current_date()) + 1)
            )) as asof_year
        from (
            select
                *,
                lead({{ right_date }}) over (
                    {% if keys %}partition by {{ keys | map('last') | join(', ') }}{% endif %}
                    order by {{ right_date }}
                ) as asof_valid_until
            from {{ relation }}
        ) as asof_rows
    ) as {{ alias }}
        on
            {% for left, right in keys -%}
                {{ left }} = {{ alias }}.{{ right }}
                and {% endfor -%}
            year({{ left_date }}) = {{ alias }}.asof_year
            and {{ left_date }} >= {{ alias }}.{{ right_date }}
            and ({{ alias }}.asof_valid_until is null or {{ left_date }} < {{ alias }}.asof_valid_until)
{%- endmacro %}

{#- The relation of an external source (Parquet files of the data dir, see the sources' YAML).
    source() is called either way, so dbt and Dagster keep the lineage. DuckDB reads the files
    through the source's meta.external_location (read_parquet, filename = true).

    On Spark the source is a catalog table over its folder (data_path(meta.data_path)), with
    the columns the source's YAML types (`data_type`), and `filename` is the path (a file: URI)
    of the file a row is in, from Spark's hidden _metadata column. The declared schema
    matters: Spark skips files named _*, so a folder holding only the empty _schema.parquet
    its writer leaves (no retraction yet, say) could not be read by inferring one. The table
    is recreated when the model runs (an external table: dropping it keeps its files), so it
    lists the folder's current files and has the YAML's current columns. -#}
{% macro external_source(source_name, table_name) -%}
    {{ return(adapter.dispatch('external_source')(source_name, table_name)) }}
{%- endmacro %}

{% macro default__external_source(source_name, table_name) -%}
    {{ return(source(source_name, table_name)) }}
{%- endmacro %}

{% macro spark__external_source(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute -%}
        {%- set node = graph.sources['source.' ~ project_name ~ '.' ~ source_name ~ '.' ~ table_name] -%}
        {%- set columns = [] -%}
        {%- for column in node.columns.values() if column.data_type -%}
            {%- do columns.append(column.name ~ ' ' ~ column.data_type) -%}
        {%- endfor -%}
        {%- do run_query('create database if not exists ' ~ relation.schema) -%}
        {%- do run_query('drop table if exists ' ~ relation) -%}
        {%- do run_query(
            'create table ' ~ relation ~ ' (' ~ columns | join(', ') ~ ') using parquet'
            ~ " location '" ~ data_path(node.meta['data_path']) ~ "'"
        ) -%}
    {%- endif -%}
    {{ return('(select *, _metadata.file_path as filename from ' ~ relation ~ ')') }}
{%- endmacro %}

{#- Seeds on Spark: dbt-spark's session connection pastes seed values into its INSERT with
    Python's % formatting, unescaped ("Hut 8's" breaks the statement) and None as the string
    'None' (not NULL). This override of dbt-spark's macro renders each value as an escaped
    string literal cast to the column's type, or NULL. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                (
                    {%- for value in row -%}
                        {%- if value is none -%}
                            null
                        {%- else -%}
                            cast('{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}' as {{ types[loop.index0] }})
                        {%- endif -%}
                        {{- ', ' if not loop.last -}}
                    {%- endfor -%}
                ){{ ',' if not loop.last }}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}

{#- Calendar days from date `start` to date `end` (end - start; negative when end is earlier).
    DuckDB's date_diff takes a unit first; Spark's datediff takes the end date first. -#}
{% macro days_between(start, end) -%}
    {{ return(adapter.dispatch('days_between')(start, end)) }}
{%- endmacro %}

{% macro default__days_between(start, end) -%}
    date_diff('day', {{ start }}, {{ end }})
{%- endmacro %}

{% macro spark__days_between(start, end) -%}
    datediff({{ end }}, {{ start }})
{%- endmacro %}
