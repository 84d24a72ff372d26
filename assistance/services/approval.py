"""Decisions: approval (批准) with the entitlement settlement reads — a determination, a tilt
(倾斜救助) or a one-time retroactive assistance (一次性追溯救助), the last two re-settling the
person-years they change on the claims ledger — and rejection (不予批准)."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from claims.models import EntryKind
from claims.public import person_years_resettle
from members.models import EntitlementKind, Identity
from members.public import entitlement_grant
from yibao_site.actors import require_actor
from yibao_site.dates import validity_window
from yibao_site.money import ZERO
from yibao_site.policy import PolicySnapshot

from .. import rules, selectors
from ..models import OPEN_STATUSES, Application, ApplicationKind, DeterminationBasis
from .eligibility import IDENTITY_BASES, MEANS_FIELDS, _determination_category, _means_test, _object_category
from .guards import REVIEWERS, Action, S, _lock, _move, _not_own, _see, _snapshot, _status, _today


def _approve_determination(app: Application, actor, on: date, snap: PolicySnapshot) -> tuple[list[str], dict]:
    category = _determination_category(app.person, app.basis, on, snap)
    fields: list[str] = []
    if app.basis == DeterminationBasis.ILLNESS_POVERTY:
        if app.property_check_passed is not True:
            raise ValidationError({"detail": [_("家庭财产核查未通过或未核查,不能认定为因病致贫重病患者。")]})
        result = _means_test(app, app.applied_on or on, snap)
        fields += MEANS_FIELDS
        if not result.passed:
            raise ValidationError({"detail": [
                _("申请前%(m)s个月自负医疗费用%(oop)s元,未超过认定标准%(t)s元(上年人均可支配收入×比例),不能认定。")
                % {"m": snap.integer("assistance.means_test.lookback_months"), "oop": result.out_of_pocket,
                   "t": result.threshold}]})
    valid_from, valid_to = validity_window(on, snap.integer("assistance.determination.valid_months"))
    if app.basis in IDENTITY_BASES:
        ends = [i.valid_to for i in Identity.objects.filter(person=app.person, kind=app.basis, valid_from__lte=on)
                if i.valid_to is None or i.valid_to >= on]
        if ends and all(e is not None for e in ends):
            valid_to = min(valid_to, max(ends))  # the status never outlives the identity it confirms
    app.category, app.valid_from, app.valid_to = category, valid_from, valid_to
    entitlement_grant(person=app.person, kind=EntitlementKind.DETERMINATION, category=category,
                      valid_from=valid_from, valid_to=valid_to, application_id=app.pk, actor=actor)
    return fields + ["category", "valid_from", "valid_to"], {"category": category, "valid_to": valid_to.isoformat()}


def _one_time_payment(app: Application, actor, keys: set[tuple[int, int]], reason: str) -> tuple:
    """Re-settle the person-years an approval changes, with its entitlement now in force, and
    write the differences onto the claims ledger as this application's one-time payment
    (``payout`` entries, DOMAIN.md §5-§6): the thresholds and caps of every later claim see it."""
    result = person_years_resettle(keys=keys, actor=actor, reason=reason, kind=EntryKind.PAYOUT,
                                   application_id=app.pk)
    amount = sum((e.total for e in result.entries), ZERO)
    lines = [{"year": e.year, "claim": e.claim_id, "paid": str(e.total), "assistance": str(e.assistance),
              "second_round": str(e.second_round), "text": e.reason}
             for e in sorted(result.entries, key=lambda e: (e.year, e.claim_id or 0))]
    return amount, lines


def _approve_tilt(app: Application, actor, on: date, snap: PolicySnapshot) -> tuple[list[str], dict]:
    """倾斜救助: the entitlement runs on the calendar year's cumulative self-pay (valid for the
    year of approval); the year's claims so far are settled again with it, and the catch-up is
    what that adds."""
    category = _object_category(app.person, on, snap)
    app.category, app.valid_from, app.valid_to = category, date(on.year, 1, 1), date(on.year, 12, 31)
    entitlement_grant(person=app.person, kind=EntitlementKind.TILT, category=category, valid_from=app.valid_from,
                      valid_to=app.valid_to, application_id=app.pk, actor=actor)
    with translation.override("zh-hans"):
        reason = _("倾斜救助申请 #%(id)s 批准,%(year)s年已结算的费用追补倾斜救助") % {"id": app.pk, "year": on.year}
    amount, lines = _one_time_payment(app, actor, {(app.person_id, on.year)}, reason)
    app.amount = amount
    app.calculation = {**app.calculation, "tilt": {
        "year": on.year, "up_to": on.isoformat(), "amount": str(amount), "lines": lines,
        "threshold": str(snap.decimal("second_round.tilt.threshold")), "rate": str(snap.decimal("second_round.tilt.rate")),
        "cap": None if snap.decimal("second_round.tilt.cap", None) is None else str(snap.decimal("second_round.tilt.cap")),
        "policy": snap.used_record()}}
    return ["category", "valid_from", "valid_to", "amount", "calculation"], {"amount": str(amount)}


def _approve_retroactive(app: Application, actor, on: date, snap: PolicySnapshot) -> tuple[list[str], dict]:
    """一次性追溯救助: the determination's category applies to the eligible care of the look-back
    window before it (an entitlement settlement reads); the window's person-years are settled
    again with it, and the one-time assistance is what that adds."""
    if app.basis_application_id:
        basis = app.basis_application
        if basis.status != S.APPROVED or basis.valid_to is None or basis.valid_to < on:
            raise ValidationError({"detail": [_("所依据的救助对象认定已过期或已失效,不能批准一次性追溯救助。")]})
    elif selectors.person_category(app.person, on, snap) is None:
        raise ValidationError({"detail": [_("该人员已不是有效期内的救助对象,不能批准一次性追溯救助。")]})
    months = snap.integer("assistance.retroactive.lookback_months")
    start, end = rules.lookback_window(app.determined_on, months)
    entitlement_grant(person=app.person, kind=EntitlementKind.RETROACTIVE, category=app.category, valid_from=start,
                      valid_to=end, application_id=app.pk, actor=actor)
    with translation.override("zh-hans"):
        reason = _("一次性追溯救助申请 #%(id)s 批准(%(start)s 至 %(end)s 按%(cat)s类救助对象追溯)") % {
            "id": app.pk, "start": start.isoformat(), "end": end.isoformat(), "cat": app.category}
    amount, lines = _one_time_payment(app, actor, {(app.person_id, y) for y in range(start.year, end.year + 1)},
                                      reason)
    app.amount = amount
    app.calculation = {**app.calculation, "retroactive": {
        "window": [start.isoformat(), end.isoformat()], "category": app.category, "claims": len(lines),
        "lines": lines, "amount": str(amount), "policy": snap.used_record()}}
    return ["amount", "calculation"], {"amount": str(amount)}


@transaction.atomic
def application_approve(*, actor, application: Application, reason: str = "", on: date | None = None) -> Application:
    """Approve a verified case (批准). Never by its filer; grants the entitlement settlement reads."""
    on = _today(on)
    require_actor(actor, REVIEWERS, message=_("只有审核人员可以审批申请。"))
    app = _lock(application)
    _see(actor, app.township)
    _not_own(actor, app, _("审批"))
    _status(app, (S.VERIFIED,), _("批准"))
    snap = _snapshot(app.person, on)
    handler = {ApplicationKind.DETERMINATION: _approve_determination, ApplicationKind.TILT: _approve_tilt,
               ApplicationKind.RETROACTIVE: _approve_retroactive}[app.kind]
    fields, data = handler(app, actor, on, snap)
    app.decided_by, app.decided_at, app.decision_reason = actor, timezone.now(), (reason or "").strip()
    app.policy_version = snap.version
    app.overdue = False
    return _move(app, to=S.APPROVED, action=Action.APPROVE, actor=actor, reason=app.decision_reason,
                 fields=[*dict.fromkeys(fields), "decided_by", "decided_at", "decision_reason", "policy_version",
                         "overdue"], data=data)


@transaction.atomic
def application_reject(*, actor, application: Application, reason: str) -> Application:
    """Reject with a reason (不予批准). A window clerk never rejects (窗口无否决权)."""
    require_actor(actor, REVIEWERS, message=_("只有审核人员可以作出不予批准的决定(窗口无否决权)。"))
    app = _lock(application)
    _see(actor, app.township)
    _not_own(actor, app, _("审批"))
    _status(app, OPEN_STATUSES, _("不予批准"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("不予批准必须说明理由。")]})
    app.decided_by, app.decided_at, app.decision_reason = actor, timezone.now(), reason
    app.overdue = False
    return _move(app, to=S.REJECTED, action=Action.REJECT, actor=actor, reason=reason,
                 fields=["decided_by", "decided_at", "decision_reason", "overdue"])
