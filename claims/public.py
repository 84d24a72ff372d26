"""What other apps may use of claims, besides ``claims.models``.

Other apps (assistance, the early warning) import only this module and ``claims.models``;
import-linter (``.importlinter``) refuses any other import of claims' internals.
"""
from .selectors import (
    SettlementPolicyCache, claims_in_force, year_to_date_out_of_pocket, year_to_date_out_of_pocket_expression,
)
from .services import ledger_entries_settle_cash, person_years_resettle

__all__ = [
    "SettlementPolicyCache", "claims_in_force", "year_to_date_out_of_pocket", "year_to_date_out_of_pocket_expression",
    "ledger_entries_settle_cash", "person_years_resettle",
]
