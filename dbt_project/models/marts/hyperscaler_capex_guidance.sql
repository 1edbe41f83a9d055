-- Hyperscaler capex guidance, each update a row, with its midpoint, the change against the
-- previous guidance for the same period, and the surprise against consensus (from the
-- hyperscaler_capex_guidance_updates seed).

with

guidance as (
    select * from {{ ref('stg_seeds__hyperscaler_capex_guidance_updates') }}
),

with_midpoint as (
    select
        *,
        (low_usd + high_usd) / 2 as midpoint_usd
    from guidance
),

final as (
    select
        guidance_id,
        ticker,
        announced_on,
        guided_period,
        low_usd,
        high_usd,
        midpoint_usd,
        lag(midpoint_usd) over same_period as previous_midpoint_usd,
        midpoint_usd - lag(midpoint_usd) over same_period as midpoint_change_usd,
        consensus_usd,
        midpoint_usd - consensus_usd as surprise_vs_consensus_usd,
        midpoint_usd / consensus_usd - 1 as surprise_vs_consensus_pct,
        is_uncertain,
        notes,
        source_url
    from with_midpoint
    window same_period as (
        partition by ticker, guided_period order by announced_on, guidance_id
    )
)

select * from final
