-- Prices visible on the as-of date: nothing after it exists for the performance marts.
with

prices as (
    select * from {{ ref('int_prices__daily_returns') }}
),

as_of as (
    select as_of_date from {{ ref('int_as_of_date') }}
),

final as (
    select prices.*
    from prices
    cross join as_of
    where prices.price_date <= as_of.as_of_date
)

select * from final
