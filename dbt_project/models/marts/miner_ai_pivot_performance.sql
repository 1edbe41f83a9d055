-- One row per bitcoin miner: its AI/HPC contracts counted on the as-of date and how its stock
-- did up to its latest trading day on or before that date. Definitions: see the model's docs.
with

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

miner_as_of as (
    select
        prices.ticker,
        max(prices.price_date) as as_of_date
    from prices
    inner join miners on prices.ticker = miners.ticker
    group by prices.ticker
),

as_of_rows as (
    select
        prices.ticker,
        prices.close,
        prices.adj_close,
        prices.price_source
    from prices
    inner join miner_as_of
        on
            prices.ticker = miner_as_of.ticker
            and prices.price_date = miner_as_of.as_of_date
),

-- Every date a return is measured against, one row per (miner, horizon).
reference_dates as (
    select
        ticker,
        '1m' as horizon,
        cast(as_of_date - interval 1 month as date) as reference_date
    from miner_as_of
    union all
    select
        ticker,
        '3m' as horizon,
        cast(as_of_date - interval 3 month as date) as reference_date
    from miner_as_of
    union all
    select
        ticker,
        '1y' as horizon,
        cast(as_of_date - interval 1 year as date) as reference_date
    from miner_as_of
    union all
    select
        ticker,
        'ytd' as horizon,
        make_date(year(as_of_date) - 1, 12, 31) as reference_date
    from miner_as_of
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
-- macros/cross_engine.sql: DuckDB has ASOF joins, Spark does not).
reference_closes as (
    select
        reference_dates.ticker,
        reference_dates.horizon,
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
        max(case when horizon = 'ytd' then reference_adj_close end) as adj_close_prior_year_end,
        max(
            case when horizon = 'first_contract' then reference_adj_close end
        ) as adj_close_before_first_contract
    from reference_closes
    group by ticker
),

-- Trading days in (as_of - 1 year, as_of], each with both benchmarks' returns between the
-- miner's previous trading day and this one (benchmark closes taken on or before each date).
one_year_window as (
    select
        prices.ticker,
        prices.price_date,
        prices.adj_close,
        prices.daily_return,
        btc_now.adj_close / btc_before.adj_close - 1 as btc_return,
        nvda_now.adj_close / nvda_before.adj_close - 1 as nvda_return,
        prices.adj_close / max(prices.adj_close) over (
            partition by prices.ticker
            order by prices.price_date
            rows between unbounded preceding and current row
        ) - 1 as drawdown
    from prices
    inner join miner_as_of
        on
            prices.ticker = miner_as_of.ticker
            and prices.price_date > cast(miner_as_of.as_of_date - interval 1 year as date)
    {{ asof_left_join('btc_prices', 'btc_now', 'prices.price_date', 'price_date') }}
    {{ asof_left_join('btc_prices', 'btc_before', 'prices.previous_price_date', 'price_date') }}
    {{ asof_left_join('nvda_prices', 'nvda_now', 'prices.price_date', 'price_date') }}
    {{ asof_left_join('nvda_prices', 'nvda_before', 'prices.previous_price_date', 'price_date') }}
),

one_year_stats as (
    select
        ticker,
        {{ round_in_unit_tests('stddev_samp(daily_return) * sqrt(252)') }} as volatility_1y,
        min(drawdown) as max_drawdown_1y,
        {{ beta_and_corr('daily_return', 'btc_return', 'btc') }},
        {{ beta_and_corr('daily_return', 'nvda_return', 'nvda') }}
    from one_year_window
    group by ticker
),

btc_one_year as (
    select
        miner_as_of.ticker,
        btc_now.adj_close / btc_before.adj_close - 1 as btc_return_1y
    from miner_as_of
    {{ asof_left_join('btc_prices', 'btc_now', 'miner_as_of.as_of_date', 'price_date') }}
    {{ asof_left_join(
        'btc_prices', 'btc_before',
        'cast(miner_as_of.as_of_date - interval 1 year as date)', 'price_date',
    ) }}
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
        miner_as_of.as_of_date,
        as_of_rows.close,
        as_of_rows.adj_close / refs.adj_close_1m_before - 1 as return_1m,
        as_of_rows.adj_close / refs.adj_close_3m_before - 1 as return_3m,
        as_of_rows.adj_close / refs.adj_close_prior_year_end - 1 as return_ytd,
        as_of_rows.adj_close / refs.adj_close_1y_before - 1 as return_1y,
        as_of_rows.adj_close / refs.adj_close_before_first_contract
        - 1 as return_since_first_contract,
        -- A one-year metric needs a close on or before as_of - 1 year: else NULL, never a guess.
        case
            when refs.adj_close_1y_before is not null then stats.volatility_1y
        end as volatility_1y,
        case
            when refs.adj_close_1y_before is not null then stats.max_drawdown_1y
        end as max_drawdown_1y,
        case when refs.adj_close_1y_before is not null then stats.beta_btc end as beta_btc_1y,
        case when refs.adj_close_1y_before is not null then stats.corr_btc end as corr_btc_1y,
        case when refs.adj_close_1y_before is not null then stats.beta_nvda end as beta_nvda_1y,
        case when refs.adj_close_1y_before is not null then stats.corr_nvda end as corr_nvda_1y,
        as_of_rows.adj_close / refs.adj_close_1y_before
        - 1
        - btc_one_year.btc_return_1y as excess_return_1y_vs_btc,
        as_of_rows.price_source
    from miners
    left join miner_as_of on miners.ticker = miner_as_of.ticker
    left join as_of_rows on miners.ticker = as_of_rows.ticker
    left join reference_closes_wide as refs on miners.ticker = refs.ticker
    left join one_year_stats as stats on miners.ticker = stats.ticker
    left join btc_one_year on miners.ticker = btc_one_year.ticker
)

select * from final
