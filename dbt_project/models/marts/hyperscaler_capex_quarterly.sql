-- Hyperscaler capex per company and calendar quarter, with year-on-year growth and the
-- all-hyperscaler total, from the reported figures of the hyperscaler_capex_actuals seed.

with

capex as (
    select * from {{ ref('stg_seeds__hyperscaler_capex_actuals') }}
),

quarter_totals as (
    select
        calendar_quarter_end,
        sum(capex_usd) as total_capex_usd,
        count(*) as companies_in_total,
        bool_or(is_uncertain) as total_is_uncertain
    from capex
    group by calendar_quarter_end
),

with_year_ago as (
    select
        capex.*,
        year_ago.capex_usd as capex_usd_year_ago,
        totals.total_capex_usd,
        totals.companies_in_total,
        totals.total_is_uncertain,
        totals_year_ago.total_capex_usd as total_capex_usd_year_ago,
        totals_year_ago.companies_in_total as companies_in_total_year_ago
    from capex
    left join capex as year_ago
        on
            capex.ticker = year_ago.ticker
            and year_ago.calendar_quarter_end
            = last_day(cast(capex.calendar_quarter_end - interval 1 year as date))
    inner join quarter_totals as totals
        on capex.calendar_quarter_end = totals.calendar_quarter_end
    left join quarter_totals as totals_year_ago
        on
            totals_year_ago.calendar_quarter_end
            = last_day(cast(capex.calendar_quarter_end - interval 1 year as date))
),

final as (
    select
        ticker,
        calendar_quarter_end,
        -- bigint on both engines (DuckDB's year() is one, Spark's an int): the BI contract.
        cast(year(calendar_quarter_end) as bigint) as calendar_year,
        cast(quarter(calendar_quarter_end) as bigint) as calendar_quarter,
        fiscal_year,
        fiscal_quarter,
        capex_usd,
        capex_usd_year_ago,
        capex_usd / capex_usd_year_ago - 1 as capex_yoy_growth,
        total_capex_usd,
        companies_in_total,
        -- Totals compare only when the same number of companies reported in both quarters.
        case
            when companies_in_total = companies_in_total_year_ago
                then total_capex_usd / total_capex_usd_year_ago - 1
        end as total_capex_yoy_growth,
        is_uncertain,
        total_is_uncertain,
        capex_definition,
        source_url
    from with_year_ago
)

select * from final
