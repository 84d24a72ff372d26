"""The bank's moves of an entry's cash status (assistance payouts through payments)."""
import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from claims.models import CashStatus, LedgerEntry
from claims.public import ledger_entries_bank_move
from yibao_site.actors import system_actor

BANK = system_actor("assistance.bank_result")


@pytest.mark.django_db
def test_only_the_bank_moves_are_allowed_and_a_repeat_changes_nothing():
    paid = LedgerEntry(pk=10**9, cash_status=CashStatus.PAID)
    with pytest.raises(ValidationError):  # paid by the bank: never back in the queue
        ledger_entries_bank_move(entries=[paid], to=CashStatus.TO_PAY, actor=BANK, reason="x")
    with pytest.raises(ValidationError):  # to_recover is finance's, not the bank's
        ledger_entries_bank_move(entries=[LedgerEntry(pk=10**9 + 1, cash_status=CashStatus.TO_RECOVER)],
                                 to=CashStatus.INSTRUCTED, actor=BANK, reason="x")
    assert ledger_entries_bank_move(entries=[paid], to=CashStatus.PAID, actor=BANK, reason="x") == 0
    with pytest.raises(PermissionDenied):
        ledger_entries_bank_move(entries=[paid], to=CashStatus.PAID, actor=None, reason="x")
