with

source as (
    select * from {{ ref('ai_hosting_contracts') }}
),

renamed as (
    select
        contract_id,
        ticker,
        counterparty,
        guarantor,
        announced_on,
        it_mw,
        gross_mw,
        contract_value_usd,
        max_value_usd,
        term_years,
        site,
        status,
        is_uncertain,
        notes,
        source_url
    from source
)

select * from renamed
