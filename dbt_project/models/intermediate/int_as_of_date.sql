-- The one as-of date of every mart, for prices and contracts alike: the dbt var as_of_date
-- (hashpivot run --as-of) clamped to the latest price date, else the latest price date.
-- A requested date before the first price of a benchmark the marts measure against (BTC-USD,
-- NVDA, the abnormal-return benchmark), or before any price, is refused: the model raises, so
-- nothing downstream is built and nothing is published.
{{ config(materialized="table") }}
{%- set benchmarks = ['BTC-USD', 'NVDA', var('abnormal_return_benchmark')] %}
{%- set benchmark_list = "'" ~ benchmarks | join("', '") ~ "'" %}
with

prices as (
    select
        ticker,
        price_date
    from {{ ref('int_prices__daily_returns') }}
),

bounds as (
    select
        min(price_date) as first_price_date,
        max(price_date) as latest_price_date
    from prices
),

benchmark_starts as (
    select
        ticker,
        min(price_date) as first_price_date
    from prices
    where ticker in ({{ benchmark_list }})
    group by ticker
),

latest_benchmark_start as (
    select
        max_by(ticker, first_price_date) as ticker,
        max(first_price_date) as first_price_date
    from benchmark_starts
),

requested as (
    select
        {% if var('as_of_date', none) -%}
            cast('{{ var("as_of_date") }}' as date)
        {%- else -%}
            cast(null as date)
        {%- endif %} as requested_as_of_date
),

final as (
    select
        case
            when requested.requested_as_of_date is null then bounds.latest_price_date
            when bounds.latest_price_date is null
                then {{ error_function() }}(
                    'as-of ' || requested.requested_as_of_date
                    || ' refused: there are no prices at all'
                )
            when requested.requested_as_of_date < bounds.first_price_date
                then {{ error_function() }}(
                    'as-of ' || requested.requested_as_of_date
                    || ' refused: it is before the first price of any ticker ('
                    || bounds.first_price_date || '), so every mart would be empty; '
                    || 'choose a date on or after '
                    || coalesce(benchmark.first_price_date, bounds.first_price_date)
                )
            when requested.requested_as_of_date < benchmark.first_price_date
                then {{ error_function() }}(
                    'as-of ' || requested.requested_as_of_date
                    || ' refused: it is before the first price of benchmark '
                    || benchmark.ticker || ' (' || benchmark.first_price_date
                    || '), so the performance marts would be empty or measured without it; '
                    || 'choose a date on or after ' || benchmark.first_price_date
                )
            else least(requested.requested_as_of_date, bounds.latest_price_date)
        end as as_of_date,
        requested.requested_as_of_date,
        bounds.latest_price_date,
        coalesce(requested.requested_as_of_date > bounds.latest_price_date, false)
            as is_clamped
    from bounds
    cross join latest_benchmark_start as benchmark
    cross join requested
)

select * from final
