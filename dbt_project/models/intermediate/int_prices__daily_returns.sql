-- Daily prices of every ticker with its previous trading day and simple daily return.
-- Rows before a company's prices_valid_from belong to another security (CORZ before its
-- 2024 re-listing, HUT before Hut 8 Corp) and are left out, so no return spans two securities.
{{ config(materialized='table') }}

with

prices as (
    select * from {{ ref('stg_landing__prices') }}
),

companies as (
    select * from {{ ref('stg_seeds__companies') }}
),

valid_prices as (
    select
        prices.*,
        coalesce(companies.segment, 'other') as segment
    from prices
    left join companies on prices.ticker = companies.ticker
    where
        companies.prices_valid_from is null
        or prices.price_date >= companies.prices_valid_from
),

with_previous_day as (
    select
        *,
        row_number() over by_ticker as trading_day_number,
        lag(price_date) over by_ticker as previous_price_date,
        lag(adj_close) over by_ticker as previous_adj_close
    from valid_prices
    window by_ticker as (partition by ticker order by price_date)
),

final as (
    select
        *,
        adj_close / previous_adj_close - 1 as daily_return
    from with_previous_day
)

select * from final
