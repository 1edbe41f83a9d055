-- Every landed price row, renamed and cast: several rows per ticker and date when a later
-- fetch revised one, and rows the audit has not accepted (or set aside) too.
-- int_prices__audited keeps what the quality gate let through.
with

landed as (
    select * from {{ external_source('landing', 'prices') }}
),

renamed as (
    select
        ticker,
        cast(date as date) as price_date,
        cast(open as double) as open,
        cast(high as double) as high,
        cast(low as double) as low,
        cast(close as double) as close,
        cast(adj_close as double) as adj_close,
        cast(volume as double) as volume,
        price_source,
        run_id,
        fetched_at,
        {{ file_name('filename') }} as landing_file
    from landed
)

select * from renamed
