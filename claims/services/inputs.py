"""What a settlement starts from: one claim's facts as received (:class:`ClaimInput`), their
checks, and the batch error that names each bad input."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from chronic.public import normalize_icd10, valid_icd10
from yibao_site.inputs import MONEY_MAX, parse_money
from yibao_site.money import FEN, ZERO, to_fen

from ..models import ClaimSource, VisitType

LEVELS = (1, 2, 3)
#: The visit types, once (``VisitType.values`` builds its list again on every use).
VISIT_TYPES = frozenset(VisitType.values)
_MONEY_FIELDS = ("total_cost", "policy_scope_cost", "basic_paid", "critical_paid")


@dataclass
class ClaimInput:
    """One claim to settle, as received (API, import, window)."""

    person_id: int
    visit_type: str
    hospital_level: int
    service_date: date
    total_cost: Decimal
    policy_scope_cost: Decimal
    in_province: bool = True
    referred: bool = False
    basic_paid: Decimal | None = None
    critical_paid: Decimal | None = None
    admission_date: date | None = None
    external_ref: str | None = None
    in_region: bool = True  # care inside the pooling region (市域); False: 统筹区外就医
    source: str = ClaimSource.API
    bills: list[dict[str, str]] | None = None  # the window's bill lines (票据), kept on the claim
    disease: str = ""     # 门诊慢特病: the catalogue code (chronic claims)
    diagnosis: str = ""   # ICD-10 (两病 reads it)
    ref: Any = None  # the caller's handle for error reports (a file row number…)


class BatchError(ValidationError):
    """Some claims of a batch could not be settled; ``by_ref`` maps each input's ``ref`` (or
    index) to its ``ValidationError``.  Nothing was written."""

    def __init__(self, by_ref: dict[Any, ValidationError]):
        self.by_ref = by_ref
        messages = []
        for ref, exc in by_ref.items():
            for fname, msgs in error_items(exc):
                messages.extend(f"{ref} {fname}: {m}" if fname else f"{ref}: {m}" for m in msgs)
        super().__init__(messages)


def error_items(exc: ValidationError):
    if hasattr(exc, "error_dict"):
        return [("" if f == "__all__" else f, [m for e in errs for m in e.messages]) for f, errs in exc.error_dict.items()]
    return [("", list(exc.messages))]


def money_value(value, field_name: str, *, required: bool = True) -> Decimal | None:
    """Parse a money amount (yuan, at most two places, not negative) or raise a field error."""
    if value is None or value == "":
        if required:
            raise ValidationError({field_name: [_("必须填写。")]})
        return None
    try:
        return parse_money(value, allow_number=True)
    except ValidationError as exc:
        raise ValidationError({field_name: exc.messages}) from None


def claim_input_check(inp: ClaimInput, *, today: date | None = None) -> None:
    """Check one input alone (types, ranges, dates, amounts); raise field errors."""
    errors: dict[str, list[str]] = {}
    today = today or timezone.localdate()
    if inp.visit_type not in VISIT_TYPES:
        errors["visit_type"] = [_("就诊类型应为 inpatient/outpatient/chronic 之一。")]
    if inp.hospital_level not in LEVELS:
        errors["hospital_level"] = [_("医院级别应为1、2或3。")]
    if not isinstance(inp.service_date, date):
        errors["service_date"] = [_("请填写就诊日期(YYYY-MM-DD)。")]
    elif inp.service_date > today:
        errors["service_date"] = [_("就诊日期不能晚于今天。")]
    if inp.admission_date is not None:
        if inp.visit_type != VisitType.INPATIENT:
            errors["admission_date"] = [_("只有住院才填写入院日期。")]
        elif isinstance(inp.service_date, date) and inp.admission_date > inp.service_date:
            errors["admission_date"] = [_("入院日期不能晚于出院日期。")]
    for name in _MONEY_FIELDS:
        value = getattr(inp, name)
        if value is None:
            if name in ("total_cost", "policy_scope_cost"):
                errors.setdefault(name, []).append(_("必须填写。"))
            continue
        if not isinstance(value, Decimal) or not value.is_finite():
            errors.setdefault(name, []).append(_("金额格式不正确。"))
        elif value < 0:
            errors.setdefault(name, []).append(_("金额不能为负数。"))
        elif value != value.quantize(FEN):
            errors.setdefault(name, []).append(_("金额最多保留两位小数。"))
        elif value > MONEY_MAX:  # the kernel's input bound: ledger sums must fit their columns
            errors.setdefault(name, []).append(_("金额不能超过 %(max)s 元。") % {"max": f"{MONEY_MAX:,.2f}"})
    inp.disease = (inp.disease or "").strip().upper()
    inp.diagnosis = normalize_icd10(inp.diagnosis)
    if inp.disease and inp.visit_type != VisitType.CHRONIC:
        errors["disease"] = [_("只有门诊慢特病结算单填写病种。")]
    elif len(inp.disease) > 20:
        errors["disease"] = [_("病种编码最长20个字符。")]
    if inp.diagnosis and not valid_icd10(inp.diagnosis):
        errors["diagnosis"] = [_("诊断编码应为 ICD-10 编码,例如 I10 或 E11.9。")]
    if not errors and inp.policy_scope_cost > inp.total_cost:
        errors["policy_scope_cost"] = [_("政策范围内费用不能超过医疗总费用。")]
    if not errors and (inp.basic_paid or ZERO) + (inp.critical_paid or ZERO) > inp.policy_scope_cost:
        errors["basic_paid"] = [_("平台已结算的基本医保与大病保险合计不能超过政策范围内费用。")]
    if errors:
        raise ValidationError(errors)
    for name in _MONEY_FIELDS:
        value = getattr(inp, name)
        if value is not None:
            setattr(inp, name, to_fen(value))
