-- Equal-weighted index of each basket, 100 on the first date every basket has a return.
with

basket_returns as (
    select * from {{ ref('int_baskets__daily_returns') }}
),

first_common_date as (
    select min(price_date) as first_common_date
    from (
        select price_date
        from basket_returns
        group by price_date
        having count(distinct basket) = 5
    ) as dates_with_every_basket
),

indexed as (
    select
        basket_returns.price_date,
        basket_returns.basket,
        basket_returns.daily_return,
        basket_returns.member_count,
        100 * {{ product_of(
            'case
                when basket_returns.price_date > first_common_date.first_common_date
                    then 1 + basket_returns.daily_return
                else 1
            end',
            over='partition by basket_returns.basket
            order by basket_returns.price_date
            rows between unbounded preceding and current row',
        ) }} as index_level
    from basket_returns
    cross join first_common_date
    where basket_returns.price_date >= first_common_date.first_common_date
),

final as (
    select
        price_date as date,
        basket,
        daily_return,
        index_level,
        member_count
    from indexed
)

select * from final
