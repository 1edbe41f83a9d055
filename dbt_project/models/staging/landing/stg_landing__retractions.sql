-- Landed rows their source no longer holds (a line removed from a CSV file, a removed file),
-- renamed and cast: recorded as new immutable files, never deleted from the landing files.
with

retractions as (
    select * from {{ external_source('landing', 'retractions') }}
),

renamed as (
    select
        ticker,
        cast(date as date) as price_date,
        price_source,
        reason,
        run_id,
        fetched_at,
        {{ file_name('filename') }} as retraction_file
    from retractions
)

select * from renamed
