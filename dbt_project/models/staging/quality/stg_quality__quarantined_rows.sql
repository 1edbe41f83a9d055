-- The landed rows the raw_prices audit set aside, with the rules they broke (the audit ledger).
with

quarantine as (
    select * from {{ external_source('quality', 'ledger_quarantine') }}
),

renamed as (
    select
        landing_file,
        ticker,
        cast(date as date) as price_date,
        close,
        rules as broken_rules,
        run_id as audit_run_id,
        quarantined_at
    from quarantine
)

select * from renamed
