"""What other apps may use of payments, besides ``payments.models``: the purpose registry and
the batch builder (procurement and assistance send money through these), and for assistance's
payout batches the bank steps of a batch, the payee accounts and the reconciliation."""
from .registry import PurposeHandler, register
from .rules import to_fen
from .selectors import batch_reconciliation
from .serializers import BankFileSerializer, BatchSerializer, ProduceFileSerializer
from .services import (
    PayeeLine, bank_file_mark_sent, bank_file_produce, batch_approve, batch_create, batch_prepare, payee_problem,
    person_account_apply_correction, person_account_save, person_account_suspend,
)

__all__ = ["PurposeHandler", "register", "PayeeLine", "batch_create", "to_fen", "batch_reconciliation",
           "BankFileSerializer", "BatchSerializer", "ProduceFileSerializer", "bank_file_mark_sent", "bank_file_produce",
           "batch_approve", "batch_prepare", "payee_problem", "person_account_apply_correction", "person_account_save",
           "person_account_suspend"]
