-- Equal-weighted daily returns of the comparison baskets, up to the as-of date.
-- A miner counts in pivoted_miners from the close of its first contract's event date: its
-- first return in the basket is the next trading day's (holding it through the event day
-- would need knowing the announcement in advance). Before that, and if it never pivoted,
-- it counts in other_miners.
with

-- Tickers outside the companies seed (segment 'other') belong to no basket: left out first,
-- as they are most of the rows of a market-wide universe.
prices as (
    select all_prices.*
    from {{ ref('int_prices__as_of') }} as all_prices
    where all_prices.segment <> 'other'
),

miners as (
    select * from {{ ref('int_miners__ai_contracts') }}
),

member_returns as (
    select
        prices.price_date,
        prices.ticker,
        prices.daily_return,
        case
            when
                prices.segment = 'bitcoin_miner'
                and prices.price_date > miners.first_contract_event_date
                then 'pivoted_miners'
            when prices.segment = 'bitcoin_miner' then 'other_miners'
            when prices.segment = 'hyperscaler' then 'hyperscalers'
            when prices.ticker = 'NVDA' then 'nvda'
            when prices.ticker = 'BTC-USD' then 'btc'
        end as basket
    from prices
    left join miners on prices.ticker = miners.ticker
    where prices.daily_return is not null
),

final as (
    select
        price_date,
        basket,
        avg(daily_return) as daily_return,
        count(*) as member_count
    from member_returns
    where basket is not null
    group by price_date, basket
)

select * from final
