-- The warehouse's raw price table: one row per ticker and trading date, the latest fetch
-- winning, over the landing files the quality gate accepted (write, audit, publish): a file
-- lands, the raw_prices audit accepts it or not, and only then does dbt read it. Rows the
-- audit quarantined are left out. Demo (synthetic) rows of a ticker are dropped as soon as
-- real rows exist for it, so synthetic and market prices never mix. Each row carries when its
-- landing file was accepted: the incremental price model rebuilds only what changed since.

with

landed as (
    select
        *,
        parse_filename(filename) as landing_file
    from {{ source('landing', 'prices') }}
),

accepted_ledger as (
    {{ read_parquet_or_empty(
        data_path('ledger_accepted') ~ '/*.parquet',
        [['landing_file', 'varchar'], ['accepted_at', 'timestamptz']]
    ) }}
),

-- One row per accepted file (the ledger never accepts a file twice, but a join must not
-- duplicate rows if it ever did).
accepted_files as (
    select
        landing_file,
        min(accepted_at) as accepted_at
    from accepted_ledger
    group by landing_file
),

quarantined_rows as (
    {{ read_parquet_or_empty(
        data_path('ledger_quarantine') ~ '/*.parquet',
        [['landing_file', 'varchar'], ['ticker', 'varchar'], ['date', 'date']]
    ) }}
),

audited as (
    select
        landed.*,
        accepted_files.accepted_at
    from landed
    inner join accepted_files
        on landed.landing_file = accepted_files.landing_file
    anti join quarantined_rows
        on
            landed.landing_file = quarantined_rows.landing_file
            and landed.ticker = quarantined_rows.ticker
            and landed.date = quarantined_rows.date
),

tickers_with_real_prices as (
    select distinct ticker
    from audited
    where price_source <> 'demo'
),

eligible as (
    select audited.*
    from audited
    where
        audited.price_source <> 'demo'
        or audited.ticker not in (
            select real_tickers.ticker from tickers_with_real_prices as real_tickers
        )
),

latest_fetch as (
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
        landing_file,
        accepted_at
    from eligible
    qualify row_number() over (
        partition by ticker, date
        order by fetched_at desc, landing_file desc
    ) = 1
)

select * from latest_fetch
