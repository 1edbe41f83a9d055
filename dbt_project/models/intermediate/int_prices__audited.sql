-- The warehouse's raw daily prices: one row per ticker and trading date, the latest fetch
-- winning, over the landing files the quality gate accepted (write, audit, publish): a file
-- lands, the raw_prices audit accepts it or not, and only then does dbt read it. Rows the
-- audit quarantined are left out, and so is a row a later retraction of its source withdrew
-- (see orchestration/extract/retractions.py). Each row carries when its landing file was
-- accepted: the incremental price model rebuilds only what changed since.
with

landed as {{ inlined() }} (
    select * from {{ ref('stg_landing__prices') }}
),

accepted as {{ inlined() }} (
    select * from {{ ref('stg_quality__accepted_files') }}
),

quarantined as {{ inlined() }} (
    select * from {{ ref('stg_quality__quarantined_rows') }}
),

retractions as {{ inlined() }} (
    select * from {{ ref('stg_landing__retractions') }}
),

-- One row per accepted file (the ledger never accepts a file twice, but a join must not
-- duplicate rows if it ever did).
accepted_files as {{ inlined() }} (
    select
        landing_file,
        min(accepted_at) as accepted_at
    from accepted
    group by landing_file
),

audited as {{ inlined() }} (
    select
        landed.*,
        accepted_files.accepted_at
    from landed
    inner join accepted_files
        on landed.landing_file = accepted_files.landing_file
    anti join quarantined
        on
            landed.landing_file = quarantined.landing_file
            and landed.ticker = quarantined.ticker
            and landed.price_date = quarantined.price_date
),

-- The rows no later retraction of their source withdrew (a retraction says the source no
-- longer holds the row, or that real prices replaced the demo ones: the rule that demo and
-- real prices never mix is applied where prices land, orchestration/extract/retractions.py).
-- A later fetch of the key lands again and counts again.
current_rows as {{ inlined() }} (
    select audited.*
    from audited
    anti join retractions
        on
            audited.ticker = retractions.ticker
            and audited.price_date = retractions.price_date
            and audited.price_source = retractions.price_source
            and audited.fetched_at < retractions.fetched_at
),

-- (A numbered subquery rather than QUALIFY, which Spark SQL lacks.)
numbered_fetches as {{ inlined() }} (
    select
        *,
        row_number() over (
            partition by ticker, price_date
            order by fetched_at desc, landing_file desc
        ) as fetch_rank
    from current_rows
),

latest_fetch as {{ inlined() }} (
    select
        ticker,
        price_date,
        open,
        high,
        low,
        close,
        adj_close,
        volume,
        price_source,
        run_id,
        fetched_at,
        landing_file,
        accepted_at
    from numbered_fetches
    where fetch_rank = 1
)

select * from latest_fetch
