with

source as (
    select * from {{ ref('hyperscaler_capex_actuals') }}
),

renamed as (
    select
        ticker,
        fiscal_year,
        fiscal_quarter,
        calendar_quarter_end,
        capex_usd,
        definition as capex_definition,
        is_uncertain,
        notes as capex_notes,
        source_url
    from source
)

select * from renamed
