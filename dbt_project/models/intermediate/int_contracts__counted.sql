-- Contracts that count on the as-of date (announced on or before it, not terminated), each
-- with its event date: the miner's first trading day on or after the announcement.
with

contracts as (
    select * from {{ ref('stg_seeds__ai_hosting_contracts') }}
),

as_of as (
    select as_of_date from {{ ref('int_as_of_date') }}
),

prices as (
    select
        ticker,
        price_date
    from {{ ref('int_prices__as_of') }}
),

counted as (
    select contracts.*
    from contracts
    cross join as_of
    where
        contracts.announced_on <= as_of.as_of_date
        and contracts.status <> 'terminated'
),

with_event_date as (
    select
        counted.*,
        min(prices.price_date) as event_date
    from counted
    left join prices
        on
            counted.ticker = prices.ticker
            and counted.announced_on <= prices.price_date
    group by all
)

select * from with_event_date
