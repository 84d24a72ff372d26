"""What the bank's answer means for assistance payouts (registered with ``payments.registry``).

Called by :mod:`payments.services` inside the transaction that records the answer:

* confirmed — the person's lines are confirmed and their ledger entries become ``paid`` with the
  bank's reference; an application whose one-time entries are now all paid gets its
  :class:`~assistance.models.Payout` record (and a ``payout`` event in its history);
* failed — the lines are marked returned (the entries stay ``instructed``: out of every queue)
  and the person's account is suspended;
* corrected — the reviewed correction replaces the account and lifts the suspension; the lines
  are released and the entries return to ``to_pay`` for the next batch.
"""
from __future__ import annotations

from django.utils.translation import gettext as _

from claims.models import CashStatus, EntryKind, LedgerEntry
from claims.public import ledger_entries_bank_move
from payments.public import person_account_apply_correction, person_account_suspend
from yibao_site.actors import system_actor
from yibao_site.audit import audited_save, bulk_update_audited

from ..models import Application, ApplicationEvent, ApplicationKind, ApplicationStatus, Payout, PayoutLine, PayoutLineState


#: The bank's answer acts on the payee account (the callback carries no person).
BANK_RESULT = system_actor("assistance.bank_result")


def _lines(instructions, state) -> list[PayoutLine]:
    return list(PayoutLine.objects.select_for_update().filter(instruction__in=[i.pk for i in instructions],
                                                              state=state).order_by("pk"))


def _record_payouts(app_ids: set[int], reference_of: dict[int, tuple[str, object]]) -> None:
    """The Payout record of each application whose one-time entries are now all paid."""
    if not app_ids:
        return
    still_open = set(LedgerEntry.objects.filter(
        application_id__in=app_ids, kind=EntryKind.PAYOUT,
        cash_status__in=[CashStatus.TO_PAY, CashStatus.INSTRUCTED]).values_list("application_id", flat=True))
    apps = (Application.objects.select_for_update(of=("self",)).filter(
        pk__in=app_ids - still_open, payout__isnull=True, status=ApplicationStatus.APPROVED,
        kind__in=[ApplicationKind.RETROACTIVE, ApplicationKind.TILT], amount__gt=0).order_by("pk"))
    for app in apps:
        reference, ins = reference_of[app.pk]
        paid_by = ins.batch.sent_by or ins.batch.prepared_by
        payout = Payout(application=app, amount=app.amount, reference=reference[:60], paid_by=paid_by)
        audited_save(payout, actor=None, reason=_("银行确认代发救助金"))
        ApplicationEvent.objects.create(
            application=app, action=ApplicationEvent.Action.PAYOUT, from_status=app.status, to_status=app.status,
            reason=_("银行代发确认(指令 %(n)s,%(on)s)") % {"n": ins.number, "on": ins.result_on.isoformat()},
            data={"amount": str(app.amount), "reference": reference, "instruction": ins.number})


def on_confirmed(instructions) -> None:
    by_pk = {i.pk: i for i in instructions}
    lines = _lines(instructions, PayoutLineState.INSTRUCTED)
    for line in lines:
        line.state = PayoutLineState.CONFIRMED
    bulk_update_audited(lines, PayoutLine, ["state"], actor=BANK_RESULT, reason=_("银行确认支付"))
    ins_of_entry = {line.entry_id: by_pk[line.instruction_id] for line in lines}
    entries = list(LedgerEntry.objects.select_for_update().filter(pk__in=list(ins_of_entry),
                                                                  cash_status=CashStatus.INSTRUCTED).order_by("pk"))
    reference_of = {}
    for e in entries:
        ins = ins_of_entry[e.pk]
        if e.application_id and e.kind == EntryKind.PAYOUT:
            reference_of[e.application_id] = (ins.bank_reference, ins)
    ledger_entries_bank_move(entries=entries, to=CashStatus.PAID, actor=BANK_RESULT, reason=_("银行确认代发,已补付"),
                             references={e.pk: ins_of_entry[e.pk].bank_reference for e in entries})
    _record_payouts(set(reference_of), reference_of)


def on_failed(instructions) -> None:
    lines = _lines(instructions, PayoutLineState.INSTRUCTED)
    for line in lines:
        line.state = PayoutLineState.FAILED
    bulk_update_audited(lines, PayoutLine, ["state"], actor=BANK_RESULT, reason=_("银行退回"))
    by_pk = {i.pk: i for i in instructions}
    for pid, ins_pk in sorted({(line.person_id, line.instruction_id) for line in lines}):
        ins = by_pk[ins_pk]
        person_account_suspend(person_id=pid, reason=f"{ins.number}: {ins.failure_reason}", actor=BANK_RESULT)


def on_corrected(instruction, correction, actor) -> None:
    lines = _lines([instruction], PayoutLineState.FAILED)
    if not lines:
        return
    person = lines[0].person
    person_account_apply_correction(person=person, correction=correction, actor=actor)
    for line in lines:
        line.state = PayoutLineState.RELEASED
    bulk_update_audited(lines, PayoutLine, ["state"], actor=actor, reason=_("收款信息已更正,重回待支付队列"))
    entries = list(LedgerEntry.objects.select_for_update().filter(
        pk__in=[line.entry_id for line in lines], cash_status=CashStatus.INSTRUCTED).order_by("pk"))
    ledger_entries_bank_move(entries=entries, to=CashStatus.TO_PAY, actor=actor, reason=_("收款信息已更正,重回待支付队列"))


def register() -> None:
    from payments.models import Purpose
    from payments.public import PurposeHandler
    from payments.public import register as register_handler

    register_handler(Purpose.ASSISTANCE, PurposeHandler(confirmed=on_confirmed, failed=on_failed,
                                                        corrected=on_corrected))
