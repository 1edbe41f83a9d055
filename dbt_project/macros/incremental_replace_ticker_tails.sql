{#- Custom incremental strategy `replace_ticker_tails`, for tables of one row per ticker and
    date whose rows depend on the ticker's earlier rows (lag, running counts).

    The model's incremental run returns, per changed ticker, every row from its first changed
    date on (recomputed against the last unchanged row). For each ticker in that batch, the
    target's rows from the batch's first date on are deleted and the batch is inserted. When
    the batch starts at the ticker's first trading day (`trading_day_number = 1`), every target
    row of the ticker goes: it was rebuilt whole, e.g. because real prices replaced its demo
    rows, whose dates need not match. dbt's delete+insert cannot express this: it deletes only
    rows whose key is in the batch, so such leftovers would survive. -#}
{% macro get_incremental_replace_ticker_tails_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} as target_rows
    using (
        select
            ticker,
            min(price_date) as first_date,
            bool_or(trading_day_number = 1) as replaces_ticker
        from {{ source }}
        group by ticker
    ) as batch
    where
        target_rows.ticker = batch.ticker
        and (batch.replaces_ticker or target_rows.price_date >= batch.first_date);

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
{%- endmacro %}
