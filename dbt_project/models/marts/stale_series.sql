-- The curated series whose prices stop more than a week of trading before the as-of date: a
-- delisted stock, a file nobody refreshed, a benchmark whose feed broke. Their windowed
-- figures in the marts are NULL (see the coverage rule); this names them, for people.
-- Curated = the companies seed and the benchmarks the marts measure against, not the
-- market-wide tickers of `--universe all` (thousands of delisted names would drown it). A
-- series without any price is a failed ticker of the run, not listed here.
with

as_of as (
    select as_of_date from {{ ref('int_as_of_date') }}
),

curated as (
    select ticker from {{ ref('stg_seeds__companies') }}
    union
    select benchmarks.ticker
    from (
        values ('BTC-USD'), ('NVDA'), ('{{ var("abnormal_return_benchmark") }}')
    ) as benchmarks (ticker)
),

last_prices as (
    select
        prices.ticker,
        max(prices.price_date) as last_price_date
    from {{ ref('int_prices__as_of') }} as prices
    inner join curated on prices.ticker = curated.ticker
    group by prices.ticker
),

behind as (
    select
        last_prices.ticker,
        last_prices.last_price_date,
        as_of.as_of_date,
        {{ weekdays_between('last_prices.last_price_date', 'as_of.as_of_date') }}
            as weekdays_behind,
        cast(
            {{ days_between('last_prices.last_price_date', 'as_of.as_of_date') }} as int
        ) as days_behind
    from last_prices
    cross join as_of
),

final as (
    select
        ticker,
        last_price_date,
        as_of_date,
        weekdays_behind,
        days_behind,
        ticker || ': last price ' || cast(last_price_date as string) || ', '
        || cast(days_behind as string) || ' days before the as-of '
        || cast(as_of_date as string) as message
    from behind
    where weekdays_behind > {{ stale_after_weekdays() }}
)

select * from final
