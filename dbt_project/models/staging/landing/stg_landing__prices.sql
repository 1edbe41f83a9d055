-- The warehouse's raw price table: one row per ticker and trading date, the latest fetch
-- winning. Demo (synthetic) rows of a ticker are dropped as soon as real rows exist for it,
-- so a warehouse that once ran on demo data never mixes synthetic and market prices.
with

landed as (
    select * from {{ source('landing', 'prices') }}
),

tickers_with_real_prices as (
    select distinct ticker
    from landed
    where price_source <> 'demo'
),

eligible as (
    select landed.*
    from landed
    where
        landed.price_source <> 'demo'
        or landed.ticker not in (
            select real_tickers.ticker from tickers_with_real_prices as real_tickers
        )
),

latest_fetch as (
    select
        ticker,
        cast(date as date) as price_date,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(adj_close as double) as adj_close,
        cast(volume as double) as volume,
        price_source,
        run_id,
        fetched_at
    from eligible
    qualify row_number() over (
        partition by ticker, date
        order by fetched_at desc, run_id desc
    ) = 1
)

select * from latest_fetch
