"""Writes of bank payments, by sub-domain: instruction batches and sign-off (:mod:`.batches`),
bank files (:mod:`.files`), bank results (:mod:`.results`), payee corrections
(:mod:`.corrections`), assistance payee accounts (:mod:`.payees`) and the escalation of
unconfirmed instructions (:mod:`.escalation`).  ``from payments.services import X`` keeps
working for every name below; every write calls ``yibao_site.actors.require_actor`` first.

How an instruction is never paid twice
--------------------------------------
1. **One instruction per payee per source run.**  ``(purpose, source_ref)`` is unique on both
   the batch and the instruction; :func:`batch_create` for a source already instructed returns
   the existing batch unchanged.
2. **Stable numbers.**  An instruction's number is assigned once, when it is created, from the
   batch and the payee's position in it; producing the file again reads the stored numbers, so
   the bank (which deduplicates on the number) pays each instruction once however many times
   a file is sent.
3. **One result per instruction.**  ``BankResult.instruction`` is unique; results are recorded
   under a row lock on the instructions (in primary-key order), so two imports of the same
   return file at the same moment end with one result each and the second changes nothing;
   a conflicting answer (paid in one file, failed in another) is refused and written nowhere.
4. **Lines released only after a reviewed correction.**  A failed instruction's lines stay out
   of the queue until a second person approves the corrected payee details; the source then
   puts them back and the next run instructs them under a new number.
"""
from ._common import APPROVERS, FINANCE, REVIEWERS
from .batches import PREFIX, PayeeLine, batch_approve, batch_create, batch_prepare
from .corrections import correction_approve, correction_reject, correction_submit
from .escalation import instructions_escalate
from .files import bank_file_mark_sent, bank_file_produce, default_layout, layout_errors, render_file
from .payees import (
    ACCOUNT_FIELDS, payee_problem, person_account_apply_correction, person_account_save, person_account_suspend,
)
from .results import ResultRow, instructions_for_results, result_errors, results_record

__all__ = [
    "APPROVERS", "FINANCE", "REVIEWERS", "PREFIX", "PayeeLine", "batch_create", "batch_prepare", "batch_approve",
    "default_layout", "layout_errors", "render_file", "bank_file_produce", "bank_file_mark_sent",
    "ResultRow", "result_errors", "instructions_for_results", "results_record",
    "correction_submit", "correction_approve", "correction_reject", "person_account_save", "instructions_escalate",
    "ACCOUNT_FIELDS", "payee_problem", "person_account_suspend", "person_account_apply_correction",
]
