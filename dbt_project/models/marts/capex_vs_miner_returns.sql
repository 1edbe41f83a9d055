-- Per calendar quarter: what the hyperscalers spent, beside how each basket did that quarter.
with

capex as (
    select * from {{ ref('hyperscaler_capex_quarterly') }}
),

basket_returns as (
    select * from {{ ref('int_baskets__daily_returns') }}
),

as_of as (
    select as_of_date from {{ ref('int_as_of_date') }}
),

quarters as (
    select distinct
        calendar_quarter_end,
        total_capex_usd,
        total_capex_yoy_growth,
        companies_in_total
    from capex
),

quarterly_basket_returns as (
    select
        last_day(
            make_date(year(price_date), quarter(price_date) * 3, 1)
        ) as calendar_quarter_end,
        basket,
        {{ product_of('1 + daily_return') }} - 1 as quarter_return
    from basket_returns
    group by all
),

final as (
    select
        quarters.calendar_quarter_end,
        quarters.total_capex_usd,
        quarters.total_capex_yoy_growth,
        quarters.companies_in_total,
        {% for basket in ['pivoted_miners', 'other_miners', 'hyperscalers', 'nvda', 'btc'] -%}
            max(
                case
                    when basket_quarters.basket = '{{ basket }}' then basket_quarters.quarter_return
                end
            ) as {{ basket }}_return,
        {% endfor -%}
        quarters.calendar_quarter_end > as_of.as_of_date as is_partial_quarter
    from quarters
    cross join as_of
    left join quarterly_basket_returns as basket_quarters
        on quarters.calendar_quarter_end = basket_quarters.calendar_quarter_end
    group by all
)

select * from final
