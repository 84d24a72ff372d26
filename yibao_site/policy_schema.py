"""The declared schema of every policy parameter key (政策参数定义), beside the packs.

Every key a rule reads is declared here once: its type (money, rate 0–1, ratio, count,
months, days, month-day, bool, list of codes), unit, range, whether it may be ``null`` and
whether a county may override the city's value.  The API, the admin, ``load_policy`` (every
pack is checked when read) and any import refuse a key that is not declared and a value that
does not fit, so settlement can trust what it reads.

A pattern's ``*`` stands for one name part (or the rest of a part: ``cat*``).  The first
matching declaration wins, so specific patterns come before general ones.

To add a key: declare it in ``SCHEMA`` (``tests`` check every key of both packs has one).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from .inputs import MONEY_MAX, check_text, normalise_code_like

MONEY, RATE, RATIO, COUNT, MONTHS, DAYS, MONTH_DAY, BOOL, CODES, LEVELS, CATEGORIES = (
    "money", "rate", "ratio", "count", "months", "days", "month_day", "bool", "codes", "levels", "categories")
DATE, YEAR, TEXTS, RECORDS = "date", "year", "texts", "records"

KIND_LABELS = {
    MONEY: _lazy("金额(元,字符串小数)"), RATE: _lazy("比例(0 至 1 的字符串小数)"),
    RATIO: _lazy("倍数(字符串小数)"), COUNT: _lazy("整数"), MONTHS: _lazy("月数(整数)"),
    DAYS: _lazy("天数(整数)"), MONTH_DAY: _lazy("月-日(MM-DD)"), BOOL: _lazy("是/否(true/false)"),
    CODES: _lazy("代码列表"), LEVELS: _lazy("医院级别列表(1-3)"), CATEGORIES: _lazy("救助类别列表(1-4)"),
    DATE: _lazy("日期(YYYY-MM-DD)"), YEAR: _lazy("年份(整数)"), TEXTS: _lazy("文本列表"),
    RECORDS: _lazy("代码与名称列表({code, name})"),
}

_DECIMAL_KINDS = {MONEY, RATE, RATIO}
_INT_KINDS = {COUNT, MONTHS, DAYS}


@dataclass(frozen=True)
class Spec:
    pattern: str
    kind: str
    unit: str = ""
    min: Any = None
    max: Any = None
    nullable: bool = False
    county: bool = True  # a county (县级) may override the city's value
    choices: str = ""  # dotted path of a TextChoices for CODES

    @property
    def regex(self) -> re.Pattern:
        return _compile(self.pattern)

    def bounds(self) -> tuple[Any, Any]:
        low, high = self.min, self.max
        if self.kind == MONEY:
            return (Decimal(low) if low is not None else Decimal("0"),
                    Decimal(high) if high is not None else MONEY_MAX)
        if self.kind == RATE:
            return Decimal(low or "0"), Decimal(high or "1")
        if self.kind == RATIO:
            return Decimal(low or "0"), Decimal(high or "10")
        if self.kind == MONTHS:
            return (low if low is not None else 0), (high if high is not None else 120)
        if self.kind == DAYS:
            return (low if low is not None else 0), (high if high is not None else 366)
        if self.kind == COUNT:
            return (low if low is not None else 0), (high if high is not None else 1000)
        return low, high

    def describe(self) -> str:
        low, high = self.bounds()
        text = str(KIND_LABELS[self.kind])
        if low is not None and high is not None:
            text += f" [{low}, {high}]"
        if self.nullable:
            text += " / null"
        return text


@lru_cache(maxsize=None)
def _compile(pattern: str) -> re.Pattern:
    return re.compile(re.escape(pattern).replace(r"\*", "[a-z0-9_]+") + r"\Z")


_KIND_CODES = "members.models.IdentityKind"
_VISIT_TYPES = "claims.models.VisitType"
_RELATIONS = "members.models.Relation"

SCHEMA: tuple[Spec, ...] = (
    # §9 statistics
    Spec("income.per_capita", MONEY, "元/年"),
    Spec("income.rural_per_capita", MONEY, "元/年"),
    # §3 members
    Spec("members.premium.resident", MONEY, "元/年", county=False),
    Spec("members.collection_period.start", MONTH_DAY, county=False),
    Spec("members.collection_period.end", MONTH_DAY, county=False),
    Spec("members.waiting_period.months", MONTHS, "月", max=24),
    Spec("members.newborn.next_year_rule", BOOL),
    Spec("members.student.lump_sum_no_topup", BOOL),
    Spec("members.contribution.employee.*.rate", RATE),
    Spec("critical.cap.continuity_min_years", COUNT, "年", max=100),
    Spec("critical.cap.incentives_from", YEAR, "年"),  # issue 12: incentives date from 2025
    Spec("*.in_force_from", DATE),  # issue 12: a rule's first day (seed), before it the rule does not exist
    Spec("*.*.*.in_force_from", DATE),
    Spec("critical.cap.bonus_ceiling_rate", RATE),
    Spec("critical.cap.*", MONEY, "元"),
    Spec("account.credit_rate.*", RATE),
    Spec("account.retiree.pension_base", MONEY, "元/月"),
    Spec("account.retiree.rate", RATE),
    Spec("account.relative_premium.relations", CODES, choices=_RELATIONS),
    Spec("account.relative_expense.relations", CODES, choices=_RELATIONS),
    Spec("report.escaped_poverty.kinds", CODES, choices=_KIND_CODES),
    Spec("assistance.annual_deductible.visit_types", CODES, choices=_VISIT_TYPES),
    Spec("assistance.out_of_region_requires_referral", BOOL),
    # §11 chronic diseases (issue 16)
    Spec("basic.resident.outpatient.two_diseases.rate", RATE, nullable=True),
    Spec("basic.resident.outpatient.two_diseases.icd10", TEXTS),
    Spec("chronic.certification.deadline_working_days", DAYS, "工作日", min=1, max=120),
    Spec("chronic.certification.valid_months", MONTHS, "月", min=1, max=120),
    Spec("chronic.certification.hospitals", RECORDS),
    # bank payments (issue 17)
    Spec("payments.signoff_threshold", MONEY, "元"),
    Spec("payments.pending_escalation_days", DAYS, "天", max=90),
    # §4 subsidised premiums
    Spec("subsidy.rate.*", RATE),
    Spec("subsidy.phaseout.*.base", MONEY, "元"),
    Spec("subsidy.phaseout.*.rate", RATE),
    # §4/§6 assistance categories and review
    Spec("assistance.category.*", COUNT, min=1, max=4),
    Spec("assistance.auto_categories", CATEGORIES),
    Spec("assistance.cat*.annual_cap", MONEY, "元"),
    Spec("assistance.cat*.inpatient.annual_deductible", MONEY, "元"),
    Spec("assistance.cat*.*.rate", RATE),
    Spec("assistance.out_of_province_requires_referral", BOOL),
    Spec("assistance.outside_benefit_period", BOOL),
    Spec("assistance.visit_types", CODES, choices=_VISIT_TYPES),
    Spec("assistance.means_test.income_ratio", RATIO),
    Spec("assistance.means_test.lookback_months", MONTHS, "月", min=1, max=60),
    Spec("assistance.determination.valid_months", MONTHS, "月", min=1, max=60),
    Spec("assistance.retroactive.lookback_months", MONTHS, "月", max=60),
    Spec("assistance.case.deadline_working_days", DAYS, "工作日", min=1, max=120),
    # §5 tier 1: basic insurance
    Spec("basic.*.*.deductible.*", MONEY, "元"),
    Spec("basic.*.*.annual_deductible", MONEY, "元"),
    Spec("basic.*.*.annual_cap", MONEY, "元"),
    Spec("basic.*.outpatient.levels", LEVELS),
    Spec("basic.*.*.rate", RATE),
    Spec("basic.*.*.rate.*", RATE),
    Spec("basic.*.*.rate.*.*", RATE),
    # §5 tier 2: critical illness insurance
    Spec("critical.resident.rate.*", RATE),
    Spec("critical.resident.visit_types", CODES, choices=_VISIT_TYPES),
        Spec("critical.resident.*", MONEY, "元"),
    # §5 tier 4: second-round assistance
    Spec("second_round.*.requires_in_province_referral", BOOL),
    Spec("second_round.*.kinds", CODES, choices=_KIND_CODES),
    Spec("second_round.*.rate", RATE),
    Spec("second_round.*.cap", MONEY, "元", nullable=True),  # null: no cap
    Spec("second_round.*.threshold", MONEY, "元"),
    Spec("second_round.*.*.rate", RATE),
    Spec("second_round.*.*.cap", MONEY, "元", nullable=True),
    Spec("second_round.*.*.threshold", MONEY, "元"),
    # §7 double early warning
    Spec("warning.*.ratio", RATIO),
    Spec("warning.*.kinds", CODES, choices=_KIND_CODES),
    # §8 procurement
    Spec("procurement.payment_days", DAYS, "天", min=1, max=90),
    Spec("procurement.due_soon_days", DAYS, "天", max=90),
    Spec("procurement.reconcile_tolerance", MONEY, "元", max="100000"),
    Spec("procurement.volume_laggard_ratio", RATE),
)


def spec_for(key: str) -> Spec | None:
    """Return the declaration of ``key`` (the first matching pattern), or ``None``."""
    for spec in SCHEMA:
        if spec.regex.match(key):
            return spec
    return None


def _err(key: str, message: str) -> ValidationError:
    return ValidationError({"value": [_("参数 %(key)s:%(message)s") % {"key": key, "message": message}]})


def _decimal(spec: Spec, key: str, value: Any) -> str:
    if isinstance(value, bool) or isinstance(value, (int, float)):
        raise _err(key, _("请用字符串表示的小数,如 \"0.85\" 或 \"15000\",不接受 JSON 数字。"))
    if not isinstance(value, str):
        raise _err(key, _("应为 %(kind)s。") % {"kind": spec.describe()})
    text = normalise_code_like(check_text(value)).strip()
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise _err(key, _("“%(value)s”不是数字;应为 %(kind)s。") % {"value": text[:40], "kind": spec.describe()}) from None
    if not number.is_finite():
        raise _err(key, _("不能是 NaN 或无穷大。"))
    places = 2 if spec.kind == MONEY else 6
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise _err(key, _("最多保留 %(n)s 位小数。") % {"n": places})
    low, high = spec.bounds()
    if not low <= number <= high:
        raise _err(key, _("应在 %(low)s 至 %(high)s 之间。") % {"low": low, "high": high})
    return text


def _integer(spec: Spec, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _err(key, _("应为整数(JSON 数字,如 12)。"))
    low, high = spec.bounds()
    if not low <= value <= high:
        raise _err(key, _("应在 %(low)s 至 %(high)s 之间。") % {"low": low, "high": high})
    return value


def _month_day(key: str, value: Any) -> str:
    text = normalise_code_like(value).strip() if isinstance(value, str) else ""
    try:
        month, day = (int(p) for p in text.split("-"))
        date(2024, month, day)  # a leap year: "02-29" is a valid month-day
        if not re.fullmatch(r"\d{2}-\d{2}", text):
            raise ValueError
    except (TypeError, ValueError):
        raise _err(key, _("应为 月-日,如 \"09-01\"。")) from None
    return text


def _codes(spec: Spec, key: str, value: Any) -> list:
    if not isinstance(value, list):
        raise _err(key, _("应为 %(kind)s。") % {"kind": spec.describe()})
    if spec.kind == CODES:
        allowed = list(import_string(spec.choices).values)
        bad = [v for v in value if not isinstance(v, str) or v not in allowed]
    else:
        allowed = [1, 2, 3] if spec.kind == LEVELS else [1, 2, 3, 4]
        bad = [v for v in value if isinstance(v, bool) or v not in allowed]
    if bad:
        raise _err(key, _("“%(bad)s”不在可选值之内:%(allowed)s。")
                   % {"bad": ", ".join(map(str, bad))[:80], "allowed": ", ".join(map(str, allowed))})
    if len(set(value)) != len(value):
        raise _err(key, _("列表中有重复项。"))
    return value


def unknown_key_error(key: str) -> ValidationError:
    return ValidationError({"key": [
        _("未声明的政策参数键 %(key)s:请先在 yibao_site/policy_schema.py 中声明其类型、单位和范围。") % {"key": key}]})


def clean_value(key: str, value: Any, *, region=None) -> Any:
    """Return ``value`` checked (and normalised) against the declaration of ``key``.

    Raise ``ValidationError`` ({"key": …} for an undeclared key or a region level that may
    not set it, {"value": …} for a value that does not fit).
    """
    spec = spec_for(key)
    if spec is None:
        raise unknown_key_error(key)
    if region is not None:
        check_region(spec, key, region)
    if value is None:
        if spec.nullable:
            return None
        raise _err(key, _("必须填写(不能为 null);应为 %(kind)s。") % {"kind": spec.describe()})
    if spec.kind in _DECIMAL_KINDS:
        return _decimal(spec, key, value)
    if spec.kind in _INT_KINDS:
        return _integer(spec, key, value)
    if spec.kind == BOOL:
        if not isinstance(value, bool):
            raise _err(key, _("应为 true 或 false。"))
        return value
    if spec.kind == MONTH_DAY:
        return _month_day(key, value)
    if spec.kind == DATE:
        text = value.isoformat() if isinstance(value, date) else value
        try:
            date.fromisoformat(text)
            if not (isinstance(text, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text)):
                raise ValueError
        except (TypeError, ValueError):
            raise _err(key, _("应为日期 YYYY-MM-DD。")) from None
        return text
    if spec.kind == YEAR:
        if isinstance(value, bool) or not isinstance(value, int) or not 1990 <= value <= 2100:
            raise _err(key, _("应为 1990 至 2100 之间的年份。"))
        return value
    if spec.kind == TEXTS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() and len(v) <= 40 for v in value):
            raise _err(key, _("应为 %(kind)s。") % {"kind": spec.describe()})
        return [check_text(v) for v in value]
    if spec.kind == RECORDS:
        if not isinstance(value, list) or not all(
                isinstance(v, dict) and set(v) <= {"code", "name"} and all(isinstance(x, str) and x.strip()
                                                                          for x in v.values()) for v in value):
            raise _err(key, _("应为 %(kind)s。") % {"kind": spec.describe()})
        return value
    return _codes(spec, key, value)


def check_region(spec: Spec, key: str, region) -> None:
    from .models import RegionLevel

    level = getattr(region, "level", None)
    if level == RegionLevel.CITY:
        return
    if level == RegionLevel.COUNTY and spec.county:
        return
    if level == RegionLevel.COUNTY:
        message = _("参数 %(key)s 全市统一(市级统筹),县级不能单独设置。") % {"key": key}
    else:
        message = _("政策参数只能设在市级或县级区划上。")
    raise ValidationError({"region": [message]})


def check_pack_entries(name: str, entries) -> list[str]:
    """Return one message per pack entry whose key is undeclared or whose value does not fit."""
    problems = []
    for entry in entries:
        try:
            clean_value(entry["key"], entry.get("value"))
        except ValidationError as exc:
            problems.append(f"{name}: {entry['key']} @ {entry.get('effective_from')}: {'; '.join(exc.messages)}")
    return problems
