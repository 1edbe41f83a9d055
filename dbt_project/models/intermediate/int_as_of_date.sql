-- The requested as-of date of the performance marts: the dbt var as_of_date
-- (hashpivot run --as-of), else the latest price date of any ticker.
with

latest_price as (
    select max(price_date) as latest_price_date
    from {{ ref('int_prices__daily_returns') }}
),

final as (
    select
        {% if var('as_of_date', none) -%}
            cast('{{ var("as_of_date") }}' as date)
        {%- else -%}
            latest_price_date
        {%- endif %} as as_of_date,
        latest_price_date
    from latest_price
)

select * from final
