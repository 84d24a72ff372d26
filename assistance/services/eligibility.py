"""Eligibility checks shared by filing and approval, and the 因病致贫 means test."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from members.models import Identity, Person
from yibao_site.policy import PolicySnapshot

from .. import rules, selectors
from ..models import Application, ApplicationKind, DeterminationBasis
from .guards import S, _snapshot

#: Bases confirmed by a department's identity list (a valid identity of that kind is required).
IDENTITY_BASES = (DeterminationBasis.MARGINAL, DeterminationBasis.MONITORED)


def _determination_category(person: Person, basis: str, on: date, snap: PolicySnapshot) -> int:
    """Return the category ``basis`` gives, or raise why the person cannot be determined."""
    if basis not in DeterminationBasis.values:
        raise ValidationError({"basis": [_("请选择认定依据:低保边缘、监测对象、因病致贫重病患者或其他特殊困难人员。")]})
    category = snap.value(f"assistance.category.{basis}", None)
    if not category:
        raise ValidationError({"basis": [_("本地区政策未设该身份对应的救助类别。")]})
    category = int(category)
    auto = [int(c) for c in (snap.value("assistance.auto_categories", None) or [])]
    if category in auto:
        raise ValidationError({"basis": [_("该类别自动享受救助,无需申请认定。")]})
    existing = selectors.identity_category(person, on, snap, exclude_kinds=(basis,))
    if existing is not None and existing in auto:
        raise ValidationError({"person": [_("该人员已是%(cat)s类救助对象,自动享受救助,无需申请认定。") % {"cat": existing}]})
    if basis == DeterminationBasis.ILLNESS_POVERTY and existing is not None and existing < category:
        raise ValidationError({"person": [
            _("该人员已属%(cat)s类救助对象,因病致贫重病患者认定不含前三类对象。") % {"cat": existing}]})
    determined = selectors.determination_category(person, on)
    if determined is not None and determined <= category:
        raise ValidationError({"person": [_("该人员已有有效期内的%(cat)s类救助对象认定。") % {"cat": determined}]})
    if basis in IDENTITY_BASES and not selectors.has_valid_identity(person, basis, on):
        raise ValidationError({"person": [
            _("该人员没有有效的“%(kind)s”身份(不存在或已过期),请先由相关部门认定。")
            % {"kind": DeterminationBasis(basis).label}]})
    return category


def _retroactive_basis(person: Person, on: date, snap: PolicySnapshot) -> tuple[Application | None, date, int]:
    """Return (the approved determination, the determination date, the category) the one-time
    assistance follows: an approved determination in force, else the highest identity in force."""
    approved = (Application.objects.filter(person=person, kind=ApplicationKind.DETERMINATION,
                                           status=S.APPROVED, valid_from__lte=on, valid_to__gte=on)
                .order_by("category", "-valid_from").first())
    if approved is not None:
        return approved, approved.valid_from, approved.category
    mapping = selectors.category_map(snap)
    identities = [i for i in Identity.objects.filter(person=person, valid_from__lte=on, kind__in=list(mapping))
                  if i.valid_to is None or i.valid_to >= on]
    if identities:
        best = min(mapping[i.kind] for i in identities)
        started = max(i.valid_from for i in identities if mapping[i.kind] == best)
        return None, started, best
    expired = Application.objects.filter(person=person, kind=ApplicationKind.DETERMINATION, status=S.APPROVED,
                                         valid_to__lt=on).exists()
    if expired:
        raise ValidationError({"person": [_("该人员的救助对象认定已过期,不能申请一次性追溯救助。")]})
    raise ValidationError({"person": [_("该人员不是救助对象,不能申请一次性追溯救助。")]})


def _object_category(person: Person, on: date, snap: PolicySnapshot) -> int:
    category = selectors.person_category(person, on, snap)
    if category is None:
        raise ValidationError({"person": [_("该人员不是有效期内的救助对象(身份不存在或已过期),不能申请倾斜救助。")]})
    return category


def _means_test(app: Application, on: date, snap: PolicySnapshot) -> rules.MeansTest:
    """Run the 因病致贫 means test over the months before the application date ``on``."""
    months = snap.integer("assistance.means_test.lookback_months")
    start, end = rules.lookback_window(on, months)
    income_snap = _snapshot(app.person, date(on.year - 1, 1, 1))
    income = income_snap.decimal("income.per_capita")
    ratio = snap.decimal("assistance.means_test.income_ratio")
    result = rules.means_test(out_of_pocket=selectors.out_of_pocket(app.person, start, end),
                              income_per_capita=income, ratio=ratio)
    app.means_oop, app.means_threshold, app.means_passed = result.out_of_pocket, result.threshold, result.passed
    app.means_window_from, app.means_window_to = start, end
    app.calculation = {**app.calculation, "means_test": {
        "window": [start.isoformat(), end.isoformat()], "out_of_pocket": str(result.out_of_pocket),
        "income_per_capita": str(income), "income_year": on.year - 1, "ratio": str(ratio),
        "threshold": str(result.threshold), "passed": result.passed,
        "policy": {**income_snap.used_record(), **snap.used_record()},
    }}
    return result


MEANS_FIELDS = ["means_oop", "means_threshold", "means_passed", "means_window_from", "means_window_to", "calculation"]
