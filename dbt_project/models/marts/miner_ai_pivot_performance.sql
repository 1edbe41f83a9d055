-- One row per bitcoin miner: its AI/HPC contracts counted on the as-of date and how its stock
-- did over windows that all end at the mart's one as-of date, with how many of each window's
-- weekdays it (and each benchmark) has prices on. Definitions: see the model's docs.
with

as_of as (
    select as_of_date from {{ ref('int_as_of_date') }}
),

miners as (
    select * from {{ ref('int_miners__ai_contracts') }}
),

-- Only the miners' and the benchmarks' prices: with a market-wide universe the other tickers
-- are most of the rows, and every step below joins to the miners or picks BTC-USD or NVDA.
prices as (
    select all_prices.*
    from {{ ref('int_prices__as_of') }} as all_prices
    -- (One IN list rather than `in ('BTC-USD', 'NVDA') or in (select ...)`: Spark runs that
    -- OR as a nested loop join, which fails over a unit test's literal rows.)
    where all_prices.ticker in (
        select miners.ticker from miners
        union all
        select benchmarks.ticker from (values ('BTC-USD'), ('NVDA')) as benchmarks (ticker)
    )
),

btc_prices as (
    select
        price_date,
        adj_close
    from prices
    where ticker = 'BTC-USD'
),

nvda_prices as (
    select
        price_date,
        adj_close
    from prices
    where ticker = 'NVDA'
),

-- Every window ends at the as-of date and starts (exclusive) here; each holds this many
-- weekdays, whatever the data, so a series' trading days can be set against it.
windows as (
    select
        as_of_date,
        cast(as_of_date - interval 1 month as date) as start_1m,
        cast(as_of_date - interval 3 month as date) as start_3m,
        make_date(year(as_of_date) - 1, 12, 31) as start_ytd,
        cast(as_of_date - interval 1 year as date) as start_1y
    from as_of
),

window_days as (
    select
        {{ weekdays_between('start_1m', 'as_of_date') }} as window_days_1m,
        {{ weekdays_between('start_3m', 'as_of_date') }} as window_days_3m,
        {{ weekdays_between('start_ytd', 'as_of_date') }} as window_days_ytd,
        {{ weekdays_between('start_1y', 'as_of_date') }} as window_days_1y
    from windows
),

-- The miner's last price on or before the as-of date (int_prices__as_of holds none after
-- it): every window's end close. Stale when a week of trading has passed since.
miner_last as (
    select
        prices.ticker,
        max(prices.price_date) as last_price_date
    from prices
    inner join miners on prices.ticker = miners.ticker
    group by prices.ticker
),

last_rows as (
    select
        prices.ticker,
        prices.price_date as last_price_date,
        prices.close,
        prices.adj_close,
        prices.price_source,
        {{ weekdays_between('prices.price_date', 'windows.as_of_date') }}
        > {{ stale_after_weekdays() }} as is_stale
    from prices
    inner join miner_last
        on
            prices.ticker = miner_last.ticker
            and prices.price_date = miner_last.last_price_date
    cross join windows
),

-- Every date a return is measured against, one row per (miner, horizon).
reference_dates as (
    select
        miner_last.ticker,
        '1m' as horizon,
        windows.start_1m as reference_date
    from miner_last
    cross join windows
    union all
    select
        miner_last.ticker,
        '3m' as horizon,
        windows.start_3m as reference_date
    from miner_last
    cross join windows
    union all
    select
        miner_last.ticker,
        '1y' as horizon,
        windows.start_1y as reference_date
    from miner_last
    cross join windows
    union all
    select
        miner_last.ticker,
        'ytd' as horizon,
        windows.start_ytd as reference_date
    from miner_last
    cross join windows
    union all
    -- the last trading day strictly before the first contract's event date
    select
        ticker,
        'first_contract' as horizon,
        cast(first_contract_event_date - interval 1 day as date) as reference_date
    from miners
    where first_contract_event_date is not null
),

-- The close of the last trading day on or before each reference date (asof join, see
-- macros/cross_engine.sql: DuckDB has ASOF joins, Spark does not), and its date.
reference_closes as (
    select
        reference_dates.ticker,
        reference_dates.horizon,
        prices.price_date as reference_price_date,
        prices.adj_close as reference_adj_close
    from reference_dates
    {{ asof_left_join(
        'prices', 'prices', 'reference_dates.reference_date', 'price_date',
        keys=[['reference_dates.ticker', 'ticker']],
    ) }}
),

reference_closes_wide as (
    select
        ticker,
        max(case when horizon = '1m' then reference_adj_close end) as adj_close_1m_before,
        max(case when horizon = '3m' then reference_adj_close end) as adj_close_3m_before,
        max(case when horizon = '1y' then reference_adj_close end) as adj_close_1y_before,
        max(case when horizon = '1y' then reference_price_date end) as price_date_1y_before,
        max(case when horizon = 'ytd' then reference_adj_close end) as adj_close_prior_year_end,
        max(
            case when horizon = 'first_contract' then reference_adj_close end
        ) as adj_close_before_first_contract
    from reference_closes
    group by ticker
),

-- The miner's trading days in (as_of - 1 year, as_of] (the other windows lie within it),
-- each with both benchmarks' returns between the miner's previous trading day and this one:
-- the benchmark's close on this very date (none: no pair, so a benchmark whose prices stop
-- gives no returns rather than zeros) against its close on or before the previous day.
one_year_window as (
    select
        prices.ticker,
        prices.price_date,
        prices.daily_return,
        windows.start_1m,
        windows.start_3m,
        windows.start_ytd,
        btc_now.price_date as btc_price_date,
        nvda_now.price_date as nvda_price_date,
        btc_now.adj_close / btc_before.adj_close - 1 as btc_return,
        nvda_now.adj_close / nvda_before.adj_close - 1 as nvda_return,
        prices.adj_close / max(prices.adj_close) over (
            partition by prices.ticker
            order by prices.price_date
            rows between unbounded preceding and current row
        ) - 1 as drawdown
    from prices
    inner join miners on prices.ticker = miners.ticker
    cross join windows
    left join btc_prices as btc_now on prices.price_date = btc_now.price_date
    left join nvda_prices as nvda_now on prices.price_date = nvda_now.price_date
    {{ asof_left_join('btc_prices', 'btc_before', 'prices.previous_price_date', 'price_date') }}
    {{ asof_left_join('nvda_prices', 'nvda_before', 'prices.previous_price_date', 'price_date') }}
    where prices.price_date > windows.start_1y
),

one_year_stats as (
    select
        ticker,
        cast(count(case when price_date > start_1m then 1 end) as int) as days_1m,
        cast(count(case when price_date > start_3m then 1 end) as int) as days_3m,
        cast(count(case when price_date > start_ytd then 1 end) as int) as days_ytd,
        cast(count(*) as int) as days_1y,
        cast(count(btc_price_date) as int) as btc_days_1y,
        cast(count(nvda_price_date) as int) as nvda_days_1y,
        {{ round_in_unit_tests('stddev_samp(daily_return) * sqrt(252)') }} as volatility_1y,
        min(drawdown) as max_drawdown_1y,
        {{ beta_and_corr('daily_return', 'btc_return', 'btc') }},
        {{ beta_and_corr('daily_return', 'nvda_return', 'nvda') }}
    from one_year_window
    group by ticker
),

-- BTC's return between the same two dates as the miner's return_1y: its close on or before
-- the miner's reference close date and on or before the miner's last price date.
btc_one_year as (
    select
        miner_last.ticker,
        btc_end.adj_close / btc_start.adj_close - 1 as btc_return_1y
    from miner_last
    inner join reference_closes_wide as refs on miner_last.ticker = refs.ticker
    {{ asof_left_join('btc_prices', 'btc_end', 'miner_last.last_price_date', 'price_date') }}
    {{ asof_left_join('btc_prices', 'btc_start', 'refs.price_date_1y_before', 'price_date') }}
),

-- The coverage of each window (see the var min_window_coverage), with a miner without prices
-- at 0 trading days.
coverage as (
    select
        miners.ticker,
        window_days.window_days_1m,
        window_days.window_days_3m,
        window_days.window_days_ytd,
        window_days.window_days_1y,
        coalesce(stats.days_1m, 0) as days_1m,
        coalesce(stats.days_3m, 0) as days_3m,
        coalesce(stats.days_ytd, 0) as days_ytd,
        coalesce(stats.days_1y, 0) as days_1y,
        coalesce(stats.btc_days_1y, 0) as btc_days_1y,
        coalesce(stats.nvda_days_1y, 0) as nvda_days_1y
    from miners
    cross join window_days
    left join one_year_stats as stats on miners.ticker = stats.ticker
),

covered as (
    select
        ticker,
        {{ is_covered('days_1m', 'window_days_1m') }} as is_1m_covered,
        {{ is_covered('days_3m', 'window_days_3m') }} as is_3m_covered,
        {{ is_covered('days_ytd', 'window_days_ytd') }} as is_ytd_covered,
        {{ is_covered('days_1y', 'window_days_1y') }} as is_1y_covered,
        {{ is_covered('btc_days_1y', 'window_days_1y') }} as is_btc_1y_covered,
        {{ is_covered('nvda_days_1y', 'window_days_1y') }} as is_nvda_1y_covered
    from coverage
),

final as (
    select
        miners.ticker,
        miners.company_name,
        miners.is_ai_pivoted,
        miners.first_ai_contract_date,
        miners.ai_contract_count,
        miners.contracted_it_mw,
        miners.contracted_value_usd,
        windows.as_of_date,
        last_rows.last_price_date,
        last_rows.is_stale,
        last_rows.close,
        case
            when covered.is_1m_covered then last_rows.adj_close / refs.adj_close_1m_before - 1
        end as return_1m,
        case
            when covered.is_3m_covered then last_rows.adj_close / refs.adj_close_3m_before - 1
        end as return_3m,
        case
            when covered.is_ytd_covered
                then last_rows.adj_close / refs.adj_close_prior_year_end - 1
        end as return_ytd,
        case
            when covered.is_1y_covered then last_rows.adj_close / refs.adj_close_1y_before - 1
        end as return_1y,
        -- Its end close would be an old one, measured over a span its neighbours' is not.
        case
            when not last_rows.is_stale
                then last_rows.adj_close / refs.adj_close_before_first_contract - 1
        end as return_since_first_contract,
        -- A one-year metric needs a close on or before as_of - 1 year (else it would span
        -- less than a year), and the window's coverage: else NULL, never a guess.
        case
            when refs.adj_close_1y_before is not null and covered.is_1y_covered
                then stats.volatility_1y
        end as volatility_1y,
        case
            when refs.adj_close_1y_before is not null and covered.is_1y_covered
                then stats.max_drawdown_1y
        end as max_drawdown_1y,
        case
            when
                refs.adj_close_1y_before is not null
                and covered.is_1y_covered
                and covered.is_btc_1y_covered
                then stats.beta_btc
        end as beta_btc_1y,
        case
            when
                refs.adj_close_1y_before is not null
                and covered.is_1y_covered
                and covered.is_btc_1y_covered
                then stats.corr_btc
        end as corr_btc_1y,
        case
            when
                refs.adj_close_1y_before is not null
                and covered.is_1y_covered
                and covered.is_nvda_1y_covered
                then stats.beta_nvda
        end as beta_nvda_1y,
        case
            when
                refs.adj_close_1y_before is not null
                and covered.is_1y_covered
                and covered.is_nvda_1y_covered
                then stats.corr_nvda
        end as corr_nvda_1y,
        case
            when covered.is_1y_covered and covered.is_btc_1y_covered
                then
                    last_rows.adj_close / refs.adj_close_1y_before
                    - 1
                    - btc_one_year.btc_return_1y
        end as excess_return_1y_vs_btc,
        last_rows.price_source,
        coverage.window_days_1m,
        coverage.window_days_3m,
        coverage.window_days_ytd,
        coverage.window_days_1y,
        coverage.days_1m,
        coverage.days_3m,
        coverage.days_ytd,
        coverage.days_1y,
        coverage.btc_days_1y,
        coverage.nvda_days_1y
    from miners
    cross join windows
    inner join coverage on miners.ticker = coverage.ticker
    inner join covered on miners.ticker = covered.ticker
    left join last_rows on miners.ticker = last_rows.ticker
    left join reference_closes_wide as refs on miners.ticker = refs.ticker
    left join one_year_stats as stats on miners.ticker = stats.ticker
    left join btc_one_year on miners.ticker = btc_one_year.ticker
)

select * from final
