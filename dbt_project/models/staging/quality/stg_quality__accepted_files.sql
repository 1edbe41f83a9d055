-- The landing files the raw_prices audit accepted, with when (the audit ledger).
with

accepted as (
    select * from {{ external_source('quality', 'ledger_accepted') }}
),

renamed as (
    select
        landing_file,
        run_id as audit_run_id,
        accepted_at
    from accepted
)

select * from renamed
