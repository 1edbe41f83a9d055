-- Daily prices of every ticker, one row per ticker and trading date, with the simple daily
-- return against the ticker's previous trading day. The BI contract: stable names.
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
