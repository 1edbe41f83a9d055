-- Daily prices of every ticker with its previous trading day and simple daily return.
-- Rows before a company's prices_valid_from belong to another security (CORZ before its
-- 2024 re-listing, HUT before Hut 8 Corp) and are left out, so no return spans two securities.
--
-- Incremental: a run recomputes, per ticker that landing files accepted since the last build
-- touched, the rows from the first touched date on (a new day, or a revision inside the
-- re-fetch window, which also changes the next day's return), continuing from the last
-- unchanged row in this table (its date, adj_close and trading_day_number). The strategy
-- (macros/incremental_replace_ticker_tails.sql) deletes the replaced rows (on Spark, which
-- cannot delete from its Parquet tables, it rewrites the table without them). What incremental
-- runs cannot see (a seed, model or var change, a new retraction) makes the Dagster asset run
-- --full-refresh.
{{ config(
    materialized='incremental',
    incremental_strategy='replace_ticker_tails',
    on_schema_change='fail',
) }}

with

companies as (
    select * from {{ ref('stg_seeds__companies') }}
),

{% if is_incremental() %}
    {%- set changes = price_changes_since(this) %}

    -- Per ticker the first date the newly accepted files hold, winning or not (a superset of
    -- what changed). The files are listed literally, so only they are read.
    rebuilds as (
        select
            ticker,
            min(cast(date as date)) as first_touched_date
        from {{ landing_rows(changes['files']) }}
        group by ticker
    ),

    -- The last unchanged row of each rebuilt ticker: what the first recomputed row's lag and
    -- trading_day_number continue from.
    previous_rows as (
        select
            this_table.ticker,
            max(this_table.price_date) as price_date,
            max_by(this_table.adj_close, this_table.price_date) as adj_close,
            max_by(this_table.trading_day_number, this_table.price_date) as trading_day_number
        from {{ this }} as this_table
        inner join rebuilds
            on
                this_table.ticker = rebuilds.ticker
                and this_table.price_date < rebuilds.first_touched_date
        group by this_table.ticker
    ),

    -- The literal date bound reaches the landing Parquet scans through the audited view (its
    -- latest-fetch window is partitioned by ticker and date), so DuckDB skips the row groups
    -- of older dates instead of windowing over the whole history.
    prices as (
        select audited.*
        from {{ ref('int_prices__audited') }} as audited
        inner join rebuilds
            on
                audited.ticker = rebuilds.ticker
                and audited.price_date >= rebuilds.first_touched_date
        where audited.price_date >= date '{{ changes["scan_from"] }}'
    ),
{% else %}
    previous_rows as (
        select
            cast(null as string) as ticker,
            cast(null as date) as price_date,
            cast(null as double) as adj_close,
            cast(null as bigint) as trading_day_number
        where false
    ),

    prices as (
        select * from {{ ref('int_prices__audited') }}
    ),
{% endif %}

valid_prices as (
    select
        prices.*,
        coalesce(companies.segment, 'other') as segment
    from prices
    left join companies on prices.ticker = companies.ticker
    where
        companies.prices_valid_from is null
        or prices.price_date >= companies.prices_valid_from
),

numbered as (
    select
        *,
        row_number() over by_ticker as batch_row_number,
        lag(price_date) over by_ticker as lagged_price_date,
        lag(adj_close) over by_ticker as lagged_adj_close
    from valid_prices
    window by_ticker as (partition by ticker order by price_date)
),

-- The first row of a ticker's batch continues from its previous row (none in a full build).
with_previous_day as (
    select
        numbered.ticker,
        numbered.price_date,
        numbered.open,
        numbered.high,
        numbered.low,
        numbered.close,
        numbered.adj_close,
        numbered.volume,
        numbered.price_source,
        numbered.run_id,
        numbered.fetched_at,
        numbered.landing_file,
        numbered.accepted_at,
        numbered.segment,
        coalesce(previous_rows.trading_day_number, 0)
        + numbered.batch_row_number as trading_day_number,
        case
            when numbered.batch_row_number = 1 then previous_rows.price_date
            else numbered.lagged_price_date
        end as previous_price_date,
        case
            when numbered.batch_row_number = 1 then previous_rows.adj_close
            else numbered.lagged_adj_close
        end as previous_adj_close
    from numbered
    left join previous_rows on numbered.ticker = previous_rows.ticker
),

final as (
    select
        *,
        adj_close / previous_adj_close - 1 as daily_return,
        -- When the build that wrote the row started: tests check the latest build's rows.
        cast('{{ run_started_at }}' as {{ timestamp_tz_type() }}) as built_at
    from with_previous_day
)

select * from final
