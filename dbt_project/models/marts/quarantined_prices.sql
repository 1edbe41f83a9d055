-- Price rows the quality gate set aside: rows of tickers outside the companies seed that
-- broke a critical rule of the raw_prices suite. They never reach the other marts.
with

quarantine as (
    {{ read_parquet_or_empty(
        data_path('ledger_quarantine') ~ '/*.parquet',
        [
            ['landing_file', 'varchar'], ['ticker', 'varchar'], ['date', 'date'],
            ['close', 'double'], ['rules', 'varchar'], ['run_id', 'varchar'],
            ['quarantined_at', 'timestamptz'],
        ]
    ) }}
),

final as (
    select
        ticker,
        date,
        close,
        rules as broken_rules,
        landing_file,
        run_id,
        quarantined_at
    from quarantine
)

select * from final
