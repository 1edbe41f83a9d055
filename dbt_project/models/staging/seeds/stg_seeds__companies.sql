with

source as (
    select * from {{ ref('companies') }}
),

renamed as (
    select
        ticker,
        name as company_name,
        segment,
        listing_notes,
        prices_valid_from,
        source_url,
        as_of_date as facts_as_of_date
    from source
)

select * from renamed
