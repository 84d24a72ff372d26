"""Reads of assistance payouts: the queue (what is owed, per person, and whether it is payable)
and the lines returned by the bank that wait for a reviewed correction."""
from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db.models import QuerySet

from claims.models import LedgerEntry
from yibao_site.idnumbers import display_id
from payments import public as pay_rules
from payments.models import PersonBankAccount
from payments.public import payee_problem
from yibao_site.models import Region
from yibao_site.scoping import scope_queryset

from ..models import PayoutBatch, PayoutLine, PayoutLineState
from .services import owed_entries

ZERO = Decimal("0.00")


def batches_for(user) -> QuerySet[PayoutBatch]:
    return scope_queryset(PayoutBatch.objects.select_related("region", "created_by", "instruction_batch"), user)


def payout_queue(region: Region, *, limit: int | None = None, user=None) -> list[dict]:
    """Per person of ``region``: what is owed and not yet instructed, and why it would be held.

    ``problem`` is empty when the next batch will instruct it; otherwise the reason it will be
    held (no account, suspended after a return, a relative's account without its proof, …).
    """
    by_person: dict[int, list[LedgerEntry]] = defaultdict(list)
    rows = owed_entries(region).select_related("person", "person__township").order_by("person_id", "pk")
    for e in rows:
        by_person[e.person_id].append(e)
    accounts = {a.person_id: a for a in PersonBankAccount.objects.filter(person_id__in=list(by_person))}
    out = []
    for pid, entries in by_person.items():
        person, account = entries[0].person, accounts.get(pid)
        out.append({
            "person": display_id(user, person.id_number), "name": person.name, "township": person.township.name if person.township else "",
            "entries": len(entries), "amount": pay_rules.to_fen(sum((e.total for e in entries), ZERO)),
            "kinds": sorted({e.get_kind_display() for e in entries}),
            "payee_kind": account.payee_kind if account else "", "account_number": account.account_number if account else "",
            "problem": payee_problem(account, person),
        })
    out.sort(key=lambda r: (r["problem"] == "", r["person"]))
    return out[:limit] if limit else out


def awaiting_correction(user=None) -> QuerySet[PayoutLine]:
    """Lines the bank returned whose payee's account has not been corrected and reviewed yet."""
    qs = PayoutLine.objects.filter(state=PayoutLineState.FAILED).select_related("person", "instruction", "batch")
    return scope_queryset(qs, user) if user is not None else qs
