-- The warehouse's raw daily prices: one row per ticker and trading date, the latest fetch
-- winning, over the landing files the quality gate accepted (write, audit, publish): a file
-- lands, the raw_prices audit accepts it or not, and only then does dbt read it. Rows the
-- audit quarantined are left out, and so is a row whose latest event is a retraction (its
-- source no longer holds it; see orchestration/extract/retractions.py). Demo (synthetic) rows
-- of a ticker are dropped as soon as real rows exist for it, so synthetic and market prices
-- never mix. Each row carries when its landing file was accepted: the incremental price
-- model rebuilds only what changed since.
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

tickers_with_real_prices as {{ inlined() }} (
    select distinct ticker
    from audited
    where price_source <> 'demo'
),

eligible as {{ inlined() }} (
    select audited.*
    from audited
    where
        audited.price_source <> 'demo'
        or audited.ticker not in (
            select real_tickers.ticker from tickers_with_real_prices as real_tickers
        )
),

-- A row whose key was retracted after its fetch: the source no longer holds it. (A later
-- fetch of the key lands again and counts again.)
current_rows as {{ inlined() }} (
    select eligible.*
    from eligible
    anti join retractions
        on
            eligible.ticker = retractions.ticker
            and eligible.price_date = retractions.price_date
            and eligible.fetched_at < retractions.fetched_at
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
