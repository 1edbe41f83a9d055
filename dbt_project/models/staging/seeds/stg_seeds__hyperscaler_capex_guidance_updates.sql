with

source as (
    select * from {{ ref('hyperscaler_capex_guidance_updates') }}
),

renamed as (
    select
        guidance_id,
        ticker,
        announced_on,
        period as guided_period,
        low_usd,
        high_usd,
        consensus_usd,
        is_uncertain,
        notes,
        source_url
    from source
)

select * from renamed
