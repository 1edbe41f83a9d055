{#- Rows of the Parquet files matching `glob`, or no rows (with `empty_columns`, a list of
    [name, type] pairs) when none exist yet: DuckDB's read_parquet fails on an empty glob, and
    the audit ledger starts empty. The glob is checked when the model is built. -#}
{% macro read_parquet_or_empty(glob, empty_columns) -%}
    {%- set found = 0 -%}
    {%- if execute -%}
        {%- set found = run_query("select count(*) from glob('" ~ glob ~ "')").columns[0].values()[0] -%}
    {%- endif -%}
    {%- if found > 0 -%}
        select * from read_parquet('{{ glob }}', union_by_name = true)
    {%- else -%}
        select
            {%- for column in empty_columns %}
                cast(null as {{ column[1] }}) as {{ column[0] }}{{ ',' if not loop.last }}
            {%- endfor %}
        where false
    {%- endif -%}
{%- endmacro %}
