-- Price rows the quality gate set aside: rows of tickers outside the companies seed that
-- broke a critical rule of the raw_prices suite. They never reach the other marts.
with

quarantined as (
    select * from {{ ref('stg_quality__quarantined_rows') }}
),

final as (
    select
        ticker,
        price_date as date,
        close,
        broken_rules,
        landing_file,
        audit_run_id as run_id,
        quarantined_at
    from quarantined
)

select * from final
