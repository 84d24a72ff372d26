"""Writes of claims, by sub-domain:

* :mod:`.inputs` — a claim's facts as received and their checks (:class:`ClaimInput`);
* :mod:`.engine` — the set-based settlement engine (facts of a batch, one claim, a year from scratch);
* :mod:`.settlement` — settle one claim or a batch, the window's trial settlement, reversal, correction;
* :mod:`.ledger` — re-settlement and its adjustment/payout entries, the fund-payment follow-up,
  finance's 补付/追回;
* :mod:`.funds` — fund entries finance records; :mod:`.checks` — the nightly ledger check;
* :mod:`.roles` — who may call them.

Every write service names its caller (``actor``) and checks it first with
``yibao_site.actors.require_actor``; other apps use ``claims.public``.
"""
from .checks import ledger_check_plan, ledger_check_run, ledger_check_shard_run, ledger_scratch_differences
from .engine import LEDGER_WRITE_FIELDS, claim_input_of, collector_paused, settle_one
from .funds import fund_entry_record
from .inputs import LEVELS, BatchError, ClaimInput, claim_input_check, error_items, money_value
from .ledger import (
    BANK_MOVES, TIER_FIELDS, TIER_LABELS, Resettlement, ledger_entries_bank_move, ledger_entries_settle,
    ledger_caps_refresh, ledger_entries_settle_cash, ledger_resettle,
    person_years_resettle,
)
from .roles import CHECK_ROLES, FINANCE_ROLES, RESETTLE_ROLES, SETTLE_ROLES
from .settlement import claim_correct, claim_preview, claim_reverse, claim_settle, claims_settle_batch

__all__ = [
    "collector_paused",
    "ledger_check_plan", "ledger_check_run", "ledger_check_shard_run", "ledger_scratch_differences",
    "LEDGER_WRITE_FIELDS", "claim_input_of", "settle_one",
    "fund_entry_record",
    "LEVELS", "BatchError", "ClaimInput", "claim_input_check", "error_items", "money_value",
    "BANK_MOVES", "TIER_FIELDS", "TIER_LABELS", "Resettlement", "ledger_entries_bank_move", "ledger_entries_settle",
    "ledger_entries_settle_cash",
    "ledger_caps_refresh", "ledger_resettle", "person_years_resettle",
    "CHECK_ROLES", "FINANCE_ROLES", "RESETTLE_ROLES", "SETTLE_ROLES",
    "claim_correct", "claim_preview", "claim_reverse", "claim_settle", "claims_settle_batch",
]
