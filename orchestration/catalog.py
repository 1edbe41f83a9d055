"""What the Dagster UI's catalog says about every asset beyond its own definition: who owns it,
which domain it belongs to, and when it counts as stale. One place, applied to every asset in
``definitions.py``, so a new asset gets the same treatment as its neighbours.
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

# Dagster owners are e-mail addresses or "team:<name>".
OWNERS_BY_GROUP = {
    "extract": ["team:ingestion"],
    "quality": ["team:data-quality"],
    "seeds": ["team:research"],
    "staging": ["team:analytics-engineering"],
    "intermediate": ["team:analytics-engineering"],
    "marts": ["team:analytics-engineering"],
    "publish": ["team:analytics-engineering"],
    "reports": ["team:analytics-engineering"],
}
DOMAIN_TAG = "domain"
# Prices are stale once a trading day closes without them: every weekday at the schedule's
# 18:30 New York time, the asset must have been materialized within the last day.
PRICE_FRESHNESS = dg.FreshnessPolicy.cron(
    deadline_cron="30 18 * * 1-5",
    lower_bound_delta=timedelta(hours=24),
    timezone="America/New_York",
)
# The curated seeds: a reminder to re-check the facts at least every 120 days.
SEED_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=120))


def domain_of(key: dg.AssetKey) -> str:
    """prices, contracts, capex or reference (companies, halvings, events, symbols)."""
    name = key.path[-1]
    if "capex" in name:
        return "capex"
    if "contract" in name or "pivot_performance" in name:
        return "contracts"
    price_words = (
        "price",
        "ledger",
        "accepted",
        "quarantin",
        "index",
        "basket",
        "as_of",
        "dashboard",
    )
    if any(word in name for word in price_words) or name == "published_marts":
        return "prices"
    return "reference"


def annotate(spec: dg.AssetSpec) -> dg.AssetSpec:
    """The spec with its owners, domain tag and freshness policy."""
    group = spec.group_name or ""
    freshness = SEED_FRESHNESS if group == "seeds" else PRICE_FRESHNESS
    return spec.replace_attributes(
        owners=spec.owners or OWNERS_BY_GROUP.get(group, ["team:analytics-engineering"]),
        tags={**spec.tags, DOMAIN_TAG: domain_of(spec.key)},
        freshness_policy=spec.freshness_policy or freshness,
    )
