with

source as (
    select * from {{ ref('market_events') }}
),

renamed as (
    select
        event_id,
        ticker,
        event_date,
        event_type,
        description as event_description,
        is_uncertain,
        source_url
    from source
)

select * from renamed
