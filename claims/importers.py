"""The ``claims`` importer: settlement records exported by the hospital platform (API.md).

Runs on ``yibao_site.imports.BulkImporter``: persons, enrolments and already-settled
platform serial numbers are looked up per batch in one query each; every row is checked in
memory (``services.claim_input_check``); only if no row is bad are the claims settled,
set-based (``services.claims_settle_batch``), in service-date order across the whole file,
inside one transaction.  ``external_ref`` (the platform's serial number) is required: a row
whose serial number is already settled with the same content is *unchanged*, so importing the
same file twice changes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from members.models import Person
from yibao_site.models import Region
from yibao_site.actors import system_actor
from yibao_site.idnumbers import normalise_id_number
from yibao_site.imports import BulkImporter, RowError, register
from yibao_site.imports import cell_date as _date
from yibao_site.imports import cell_text as _text
from yibao_site.scoping import scope_queryset

from . import selectors, services
from .models import Claim, ClaimSource

TRUE = {"1", "true", "t", "yes", "y", "是", "省内", "转诊", "已转诊"}
FALSE = {"0", "false", "f", "no", "n", "否", "省外", "未转诊", ""}
JOB = system_actor("claims.import")
_COMPARED = ("person_id", "visit_type", "hospital_level", "service_date", "total_cost", "policy_scope_cost")


def _bool(row, key, errors, default: bool) -> bool:
    text = _text(row, key).lower()
    if key not in row or row.get(key) is None:
        return default
    if text in TRUE:
        return True
    if text in FALSE:
        return False if text else default
    errors.setdefault(key, []).append(_("应为 是/否(true/false)。"))
    return default


# A plain amount (at most 8 digits, at most 2 places): what ``money_value`` reads as the same
# number without its checks and normalisations, which such text passes unchanged.
_PLAIN_MONEY = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?").fullmatch
_CENT = Decimal("0.01")


def _money(row, key, errors, *, required: bool):
    value = row.get(key)
    if type(value) is str and _PLAIN_MONEY(value):
        return Decimal(value).quantize(_CENT)
    try:
        return services.money_value(row.get(key), key, required=required)
    except ValidationError as exc:
        for msg in exc.message_dict.get(key, []):
            errors.setdefault(key, []).append(msg)
        return None


@dataclass
class _Skip:
    """A row whose serial number is already settled with the same content."""

    ref: str


@register
class ClaimImporter(BulkImporter):
    name = "claims"
    verbose_name = "平台结算记录"
    columns = ["person", "visit_type", "hospital_level", "service_date", "total_cost", "policy_scope_cost",
               "in_province", "referred", "basic_paid", "critical_paid", "admission_date", "external_ref", "disease",
               "diagnosis", "in_region"]
    example = {"person": "420302197005060012", "visit_type": "住院", "hospital_level": 2, "service_date": "2026-03-10",
               "total_cost": "12000.00", "policy_scope_cost": "10000.00", "in_province": "是", "referred": "否",
               "basic_paid": "6500.00", "critical_paid": "0.00", "admission_date": "2026-03-01",
               "external_ref": "JS202603100001", "disease": "", "diagnosis": "",
               "in_region": "是"}
    required = {"person", "visit_type", "hospital_level", "service_date", "total_cost", "policy_scope_cost",
                "external_ref"}
    header_aliases = {"公民身份号码": "person", "身份证号": "person", "就诊类型": "visit_type", "医院级别": "hospital_level",
                      "就诊日期": "service_date", "出院日期": "service_date", "医疗总费用": "total_cost",
                      "政策范围内费用": "policy_scope_cost", "省内就医": "in_province", "规范转诊": "referred",
                      "统筹区内就医": "in_region", "市内就医": "in_region",
                      "基本医保支付": "basic_paid", "大病保险支付": "critical_paid", "入院日期": "admission_date",
                      "结算流水号": "external_ref", "平台结算流水号": "external_ref", "病种编码": "disease",
                      "慢特病病种": "disease", "诊断编码": "diagnosis", "ICD-10": "diagnosis"}
    visit_aliases = {"住院": "inpatient", "普通门诊": "outpatient", "门诊": "outpatient", "门诊慢特病": "chronic",
                     "慢特病": "chronic"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.cache = selectors.SettlementPolicyCache()
        self.persons: dict[str, int] = {}
        # person id → (township id, township), what the batch reads of a person (its
        # ``persons`` argument): read here with the ID-number look-up, not again per chunk.
        self.person_facts: dict[int, tuple] = {}
        self.townships: dict[int, object] = {}
        self.enrolled: set[tuple[int, int]] = set()
        self.settled: dict[str, tuple] = {}
        self.today = timezone.localdate()

    def prepare(self, rows):
        ids = {normalise_id_number(_text(r, "person")) for r in rows} - set(self.persons)
        people = Person.objects.filter(id_number__any=sorted(ids))  # one array parameter
        if self.actor is not None and getattr(self.actor, "is_authenticated", False):
            people = scope_queryset(people, self.actor)
        found = {}
        new_townships = set()
        for id_number, pid, tid in people.values_list("id_number", "id", "township_id"):
            found[id_number] = pid
            self.person_facts[pid] = tid
            if tid is not None and tid not in self.townships:
                new_townships.add(tid)
        if new_townships:
            self.townships.update((r.pk, r) for r in Region.objects.filter(pk__in=new_townships).only("id", "code", "path"))
        self.persons.update(found)
        years = {int(_text(r, "service_date")[:4]) for r in rows if _text(r, "service_date")[:4].isdigit()}
        years |= {d.year for r in rows for d in [r.get("service_date")] if isinstance(d, date)}
        coverage = selectors.coverage_facts(found.values(), years | {y + 1 for y in years})
        self.enrolled.update(coverage)
        refs = {_text(r, "external_ref") for r in rows} - {""}
        for row in Claim.objects.filter(external_ref__any=sorted(refs)).values_list("external_ref", *_COMPARED):
            self.settled[row[0]] = row[1:]

    def run_file(self, *args, **kwargs):
        with services.collector_paused():  # the whole file, as the batch pauses it for a chunk
            return super().run_file(*args, **kwargs)

    def run(self, *args, **kwargs):
        with services.collector_paused():  # the whole file, as the batch pauses it for a chunk
            return super().run(*args, **kwargs)

    def clean_row(self, row):
        errors: dict[str, list[str]] = {}
        idn = normalise_id_number(_text(row, "person"))
        person_id = self.persons.get(idn)
        if person_id is None:
            errors["person"] = [_("参保人 %(id)s 不存在或不在您的辖区。") % {"id": idn}]
        visit = _text(row, "visit_type")
        visit = self.visit_aliases.get(visit, visit)
        level_text = _text(row, "hospital_level")
        level = int(level_text) if level_text.isdigit() else None
        service_date = _date(row, "service_date", errors)
        admission_date = _date(row, "admission_date", errors, required=False)
        total = _money(row, "total_cost", errors, required=True)
        scope = _money(row, "policy_scope_cost", errors, required=True)
        basic = _money(row, "basic_paid", errors, required=False)
        critical = _money(row, "critical_paid", errors, required=False)
        in_province = _bool(row, "in_province", errors, True)
        referred = _bool(row, "referred", errors, False)
        in_region = _bool(row, "in_region", errors, True)
        ref = _text(row, "external_ref")
        if not ref:
            errors.setdefault("external_ref", []).append(_("必填:平台结算流水号用于防止重复结算。"))
        elif len(ref) > 64:
            errors.setdefault("external_ref", []).append(_("最长64个字符。"))
        if errors:
            raise ValidationError(errors)
        inp = services.ClaimInput(
            person_id=person_id, visit_type=visit, hospital_level=level or 0, service_date=service_date,
            total_cost=total, policy_scope_cost=scope, in_province=in_province, referred=referred,
            basic_paid=basic, critical_paid=critical, admission_date=admission_date, external_ref=ref,
            source=ClaimSource.PLATFORM, disease=_text(row, "disease"), diagnosis=_text(row, "diagnosis"),
            in_region=in_region)
        services.claim_input_check(inp, today=self.today)
        if (person_id, service_date.year) not in self.enrolled and (person_id, service_date.year + 1) not in self.enrolled:
            raise ValidationError({"person": [_("该人员%(year)s年度没有有效的参保登记,不能结算。")
                                              % {"year": service_date.year}]})
        existing = self.settled.get(ref)
        if existing is not None:
            if existing != (person_id, visit, level, service_date, total, scope):
                raise ValidationError({"external_ref": [
                    _("流水号 %(ref)s 已按不同内容结算过;如需更正请先冲销原结算单。") % {"ref": ref}]})
            return _Skip(ref)
        return inp

    def check_file(self, rows, cleaned):
        errors: list[RowError] = []
        seen: dict[str, int] = {}
        for number, value in cleaned:
            ref = value.ref if isinstance(value, _Skip) else value.external_ref
            if ref in seen:
                errors.append(RowError(number, "external_ref", _("与第 %(row)s 行重复。") % {"row": seen[ref]}))
            seen[ref] = number
            if not isinstance(value, _Skip):
                value.ref = number
        # Settle in service-date order across the whole file (the engine writes the list
        # ``cleaned`` in its order, batch by batch, in one transaction).
        cleaned.sort(key=lambda item: (isinstance(item[1], _Skip), getattr(item[1], "service_date", date.max), item[0]))
        return errors

    def write(self, cleaned, *, actor=None):
        inputs = [c for c in cleaned if not isinstance(c, _Skip)]
        skipped = len(cleaned) - len(inputs)
        townships, facts = self.townships, self.person_facts
        persons = {}
        for inp in inputs:
            pid = inp.person_id
            if pid not in persons:
                tid = facts[pid]
                persons[pid] = (tid, townships.get(tid))
        try:
            # From the command line without ``--user`` (or a background import without a user)
            # the platform file is imported as a job, unscoped (see ``prepare``).
            services.claims_settle_batch(inputs=inputs, actor=actor if actor is not None else JOB,
                                         cache=self.cache, reason=_("平台结算记录导入"), persons=persons)
        except services.BatchError as exc:
            messages = []
            for number, err in exc.by_ref.items():
                for field_name, msgs in services.error_items(err):
                    messages.extend(str(RowError(number, field_name, m)) for m in msgs)
            raise ValidationError(messages) from None
        return len(inputs), 0, skipped
