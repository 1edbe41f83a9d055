-- Daily prices of every ticker, one row per ticker and trading date, with the simple daily
-- return against the ticker's previous trading day. The BI contract: stable names.
-- A view over the incremental int_prices__daily_returns, so a build copies none of its rows;
-- readers filtering on ticker or date (the GX suite reads the latest 45 days) reach that
-- table's scan, and the publish step copies it into the published file as a table.
{{ config(materialized='view') }}
with

prices as (
    select * from {{ ref('int_prices__daily_returns') }}
),

final as (
    select
        ticker,
        price_date as date,
        open,
        high,
        low,
        close,
        adj_close,
        volume,
        daily_return,
        price_source
    from prices
)

select * from final
