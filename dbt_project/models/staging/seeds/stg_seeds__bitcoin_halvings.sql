with

source as (
    select * from {{ ref('bitcoin_halvings') }}
),

renamed as (
    select
        halving_number,
        halving_date,
        block_height,
        subsidy_before_btc,
        subsidy_after_btc,
        is_estimate,
        source_url
    from source
)

select * from renamed
