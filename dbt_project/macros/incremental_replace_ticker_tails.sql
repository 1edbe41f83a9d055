{#- Custom incremental strategy `replace_ticker_tails`, for tables of one row per ticker and
    date whose rows depend on the ticker's earlier rows (lag, running counts).

    The model's incremental run returns, per changed ticker, every row from its first changed
    date on (recomputed against the last unchanged row). For each ticker in that batch, the
    target's rows from the batch's first date on are deleted and the batch is inserted. When
    the batch starts at the ticker's first trading day (`trading_day_number = 1`), every target
    row of the ticker goes: it was rebuilt whole (its history reaches back before the rows
    already built, say), and the old rows' dates need not match the new ones. dbt's delete+insert cannot express this: it deletes only
    rows whose key is in the batch, so such leftovers would survive. -#}
{% macro get_incremental_replace_ticker_tails_sql(arg_dict) -%}
    {{ return(adapter.dispatch('get_incremental_replace_ticker_tails_sql')(arg_dict)) }}
{%- endmacro %}

{#- Per ticker of the batch `source`: the first date it replaces and whether it replaces the
    ticker whole. -#}
{% macro replaced_tails(source) -%}
    (
        select
            ticker,
            min(price_date) as first_date,
            bool_or(trading_day_number = 1) as replaces_ticker
        from {{ source }}
        group by ticker
    )
{%- endmacro %}

{#- Whether a target row is replaced by its ticker's row of replaced_tails. -#}
{% macro is_replaced_row(target_alias, batch_alias) -%}
    {{ target_alias }}.ticker = {{ batch_alias }}.ticker
    and ({{ batch_alias }}.replaces_ticker or {{ target_alias }}.price_date >= {{ batch_alias }}.first_date)
{%- endmacro %}

{#- DuckDB: delete the replaced rows, insert the batch. -#}
{% macro default__get_incremental_replace_ticker_tails_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} as target_rows
    using {{ replaced_tails(source) }} as batch
    where {{ is_replaced_row('target_rows', 'batch') }};

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
{%- endmacro %}


{#- Spark: dbt-spark's tables are Parquet (no DELETE), so the table is rewritten whole: its rows
    the batch does not replace (an anti join with the same condition as the DELETE above) plus
    the batch. Spark refuses to overwrite a table it reads in the same statement, and the batch
    is a view that reads the target too, so the new contents go to a staging table first,
    then replace the target's (insert overwrite), and the statement dbt runs last drops the
    staging table. A full rewrite costs the table's size per run: fine at this warehouse's
    scale; a Delta/Iceberg table would allow the DuckDB strategy's delete + insert. -#}
{% macro spark__get_incremental_replace_ticker_tails_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    {%- set staging = target.incorporate(path={'identifier': target.identifier ~ '__dbt_rewrite'}) -%}
    {%- set rewrite -%}
        create table {{ staging }} using parquet as
        select {{ columns }}
        from {{ target }} as target_rows
        anti join {{ replaced_tails(source) }} as batch
            on {{ is_replaced_row('target_rows', 'batch') }}
        union all
        select {{ columns }}
        from {{ source }}
    {%- endset -%}
    {%- do run_query('drop table if exists ' ~ staging) -%}
    {%- do run_query(rewrite) -%}
    {%- do run_query(
        'insert overwrite table ' ~ target ~ ' select ' ~ columns ~ ' from ' ~ staging
    ) -%}
    drop table if exists {{ staging }}
{%- endmacro %}

{#- dbt-spark accepts only its own strategies (append, merge, insert_overwrite, microbatch) and
    runs no custom one: these two overrides of its macros (the root project's macros win) let
    replace_ticker_tails through and hand it to the dispatched strategy above; every other
    strategy goes to dbt-spark's own macros unchanged. -#}
{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy == 'replace_ticker_tails' -%}
        {{ return(raw_strategy) }}
    {%- endif -%}
    {{ return(dbt_spark.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) }}
{%- endmacro %}

{% macro dbt_spark_get_incremental_sql(
    strategy, source, target, existing, unique_key, incremental_predicates
) -%}
    {%- if strategy == 'replace_ticker_tails' -%}
        {{ return(get_incremental_replace_ticker_tails_sql({
            'target_relation': target,
            'temp_relation': source,
            'dest_columns': adapter.get_columns_in_relation(target),
        })) }}
    {%- endif -%}
    {{ return(dbt_spark.dbt_spark_get_incremental_sql(
        strategy, source, target, existing, unique_key, incremental_predicates
    )) }}
{%- endmacro %}
