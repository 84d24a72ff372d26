"""Reads of claims, by topic:

* :mod:`.facts` — what settlement reads about persons, set-based: :func:`coverage_facts` and
  :func:`assistance_facts` load what a whole batch needs in one query each;
  :func:`assistance_status` then decides in memory for one person and date from a policy
  snapshot (:func:`assistance_status_for` is the one-person convenience); off-site
  registrations and open inpatient stays;
* :mod:`.ledgers` — claim lists, claims in force, year-to-date out-of-pocket, the nightly
  integrity check and a person-year as entries;
* :mod:`.funds` — the fund report.

Other apps use ``claims.public``.
"""
from yibao_site.policy import ChangeDatePolicyCache, shared_policy_cache

from .facts import (
    Coverage, OffsitePeriod, PersonAssistanceFacts, assistance_facts, assistance_of_rows, assistance_status,
    assistance_status_for, coverage_of_rows,
    coverage_facts, inpatient_stays, offsite_covers, offsite_periods,
)
from .funds import FUND_TIERS, TIERS, cut_months, fund_report
from .ledgers import (
    LEDGER_CHECKS, claim_list, claim_totals, claims_in_force, entry_row, ledger_entries, ledger_for,
    ledger_entries_many, ledger_mismatches, ledger_shard_ranges, ledger_view, ledger_views, year_to_date_out_of_pocket, year_to_date_out_of_pocket_expression,
)

#: The kernel's change-date policy cache, under the name other apps know it by (``claims.public``).
SettlementPolicyCache = ChangeDatePolicyCache
settlement_policy_cache = shared_policy_cache

__all__ = [
    "SettlementPolicyCache", "settlement_policy_cache",
    "Coverage", "OffsitePeriod", "PersonAssistanceFacts", "assistance_facts", "assistance_status",
    "assistance_status_for", "coverage_facts", "inpatient_stays", "offsite_covers", "offsite_periods",
    "FUND_TIERS", "TIERS", "cut_months", "fund_report",
    "LEDGER_CHECKS", "claim_list", "claim_totals", "claims_in_force", "entry_row", "ledger_entries", "ledger_for",
    "ledger_entries_many", "ledger_mismatches", "ledger_shard_ranges", "ledger_view", "ledger_views", "year_to_date_out_of_pocket", "year_to_date_out_of_pocket_expression",
]
