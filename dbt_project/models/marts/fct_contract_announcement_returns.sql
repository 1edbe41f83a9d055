-- Each AI/HPC contract counted on the as-of date, with its terms (counterparty, MW, dollars,
-- term) and an event study of its announcement: the miner's return on the event day,
-- cumulative abnormal returns (CAR) against a benchmark, and the day's volume against the
-- 20 trading days before. Windows count the miner's trading days around the event date.
with

contracts as (
    select * from {{ ref('int_contracts__counted') }}
),

-- Inlined (macros/cross_engine.sql): read twice below, it would otherwise be materialized
-- whole (every ticker's history) before the filters on ticker reach the price table.
all_prices as {{ inlined() }} (
    select * from {{ ref('int_prices__as_of') }}
),

-- Only the contracts' tickers: every figure below is per ticker (windows partition by it), so
-- the other tickers of the warehouse (thousands with --universe all) would be computed for
-- nothing.
prices as (
    select * from all_prices
    where ticker in (select contracts.ticker from contracts)
),

benchmark_prices as (
    select
        price_date,
        adj_close
    from all_prices
    where ticker = '{{ var("abnormal_return_benchmark") }}'
),

-- Each trading day's abnormal return: the miner's return minus the benchmark's return between
-- the same two dates (benchmark closes on or before each date).
abnormal_returns as (
    select
        prices.ticker,
        prices.price_date,
        prices.trading_day_number,
        prices.daily_return,
        prices.volume,
        prices.daily_return
        - (benchmark_now.adj_close / benchmark_before.adj_close - 1) as abnormal_return,
        avg(prices.volume) over prior_20_days as mean_volume_prior_20d,
        count(prices.volume) over prior_20_days as volume_days_prior_20d
    from prices
    {{ asof_left_join('benchmark_prices', 'benchmark_now', 'prices.price_date', 'price_date') }}
    {{ asof_left_join(
        'benchmark_prices', 'benchmark_before', 'prices.previous_price_date', 'price_date',
    ) }}
    window prior_20_days as (
        partition by prices.ticker
        order by prices.trading_day_number
        rows between 20 preceding and 1 preceding
    )
),

event_days as (
    select
        contracts.contract_id,
        contracts.ticker,
        contracts.announced_on,
        contracts.event_date,
        abnormal_returns.trading_day_number as event_day_number,
        abnormal_returns.daily_return as return_day0,
        case
            when abnormal_returns.volume_days_prior_20d = 20
                then abnormal_returns.volume / nullif(abnormal_returns.mean_volume_prior_20d, 0)
        end as volume_ratio_day0
    from contracts
    left join abnormal_returns
        on
            contracts.ticker = abnormal_returns.ticker
            and contracts.event_date = abnormal_returns.price_date
),

-- CAR over [first, last] trading days relative to the event: NULL unless every day of the
-- window exists and has an abnormal return.
windows as (
    select
        event_days.contract_id,
        {{ car_over_window(-1, 1) }} as car_m1_p1,
        {{ car_over_window(0, 5) }} as car_0_p5,
        {{ car_over_window(0, 20) }} as car_0_p20
    from event_days
    inner join abnormal_returns
        on
            event_days.ticker = abnormal_returns.ticker
            and abnormal_returns.trading_day_number
            between event_days.event_day_number - 1 and event_days.event_day_number + 20
    group by event_days.contract_id
),

final as (
    select
        event_days.contract_id,
        event_days.ticker,
        contracts.counterparty,
        contracts.it_mw,
        contracts.contract_value_usd,
        contracts.term_years,
        contracts.site,
        contracts.is_uncertain,
        contracts.source_url,
        event_days.announced_on,
        event_days.event_date,
        event_days.return_day0,
        windows.car_m1_p1,
        windows.car_0_p5,
        windows.car_0_p20,
        event_days.volume_ratio_day0,
        '{{ var("abnormal_return_benchmark") }}' as benchmark_ticker
    from event_days
    inner join contracts on event_days.contract_id = contracts.contract_id
    left join windows on event_days.contract_id = windows.contract_id
)

select * from final
