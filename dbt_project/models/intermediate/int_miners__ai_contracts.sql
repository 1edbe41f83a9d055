-- Per bitcoin miner: its counted AI/HPC contracts summed, and its first contract's dates.
with

miners as (
    select
        ticker,
        company_name
    from {{ ref('stg_seeds__companies') }}
    where segment = 'bitcoin_miner'
),

contracts as (
    select * from {{ ref('int_contracts__counted') }}
),

-- (A numbered subquery rather than QUALIFY, which Spark SQL lacks.)
numbered_contracts as (
    select
        ticker,
        announced_on,
        event_date,
        row_number() over (
            partition by ticker order by announced_on, event_date, contract_id
        ) as contract_rank
    from contracts
),

first_contract as (
    select
        ticker,
        announced_on as first_ai_contract_date,
        event_date as first_contract_event_date
    from numbered_contracts
    where contract_rank = 1
),

totals as (
    select
        miners.ticker,
        miners.company_name,
        count(contracts.contract_id) as ai_contract_count,
        case
            when count(contracts.contract_id) = 0 then 0.0 else sum(contracts.it_mw)
        end as contracted_it_mw,
        case
            when count(contracts.contract_id) = 0 then 0.0 else sum(contracts.contract_value_usd)
        end as contracted_value_usd
    from miners
    left join contracts on miners.ticker = contracts.ticker
    group by miners.ticker, miners.company_name
),

final as (
    select
        totals.*,
        totals.ai_contract_count > 0 as is_ai_pivoted,
        first_contract.first_ai_contract_date,
        first_contract.first_contract_event_date
    from totals
    left join first_contract on totals.ticker = first_contract.ticker
)

select * from final
