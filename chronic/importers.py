"""Imports of the chronic-disease catalogue and of certifications decided by the designated
hospitals (001: 审核认定下放至定点医院), through the shared engine (``yibao_site.imports``):
every row checked first, all-or-nothing, a row-numbered report; importing the same file
twice changes nothing."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from members.models import Person
from yibao_site.actors import system_actor
from yibao_site.dates import validity_window
from yibao_site.idnumbers import normalise_id_number
from yibao_site.imports import BulkImporter, RowError, register
from yibao_site.imports import cell_date as _date
from yibao_site.imports import cell_text as _text
from yibao_site.models import Region, Role
from yibao_site.policy import PolicyCache
from yibao_site.scoping import scope_queryset
from yibao_site.workflow import has_role

from . import selectors, services
from .models import Certification, CertificationChannel, CertificationStatus, ChronicDisease

TRUE = {"1", "true", "t", "yes", "y", "是"}
FALSE = {"0", "false", "f", "no", "n", "否", ""}


def _bool(row, key, errors) -> bool:
    text = _text(row, key).lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    errors.setdefault(key, []).append(_("应为 是/否(true/false)。"))
    return False


class _Importer(BulkImporter):
    def run(self, rows, *, dry_run=False, actor=None, progress=None):
        self.actor = actor or self.actor  # the checks below are the actor's (admin or --user)
        return super().run(rows, dry_run=dry_run, actor=self.actor, progress=progress)


@register
class ChronicDiseaseImporter(_Importer):
    """The catalogue (病种目录) of a region, by (region, code, valid_from)."""

    name = "chronic_diseases"
    verbose_name = gettext_lazy("门诊慢特病病种目录")
    columns = ["region", "code", "name", "icd10", "criteria", "unified_criteria", "separate_drug_payment",
               "rate_key", "cap_key", "valid_from", "valid_to", "illustrative", "source"]
    required = {"region", "code", "name", "valid_from"}
    header_aliases = {"区划": "region", "区划代码": "region", "病种编码": "code", "病种名称": "name",
                      "ICD-10": "icd10", "诊断编码范围": "icd10", "认定标准": "criteria", "统一认定标准": "unified_criteria",
                      "药品单独支付": "separate_drug_payment", "生效日期": "valid_from", "失效日期": "valid_to",
                      "示例数据": "illustrative", "出处": "source"}

    def prepare(self, rows):
        codes = {_text(r, "region") for r in rows}
        self.regions = {r.code: r for r in Region.objects.filter(code__in=codes)}

    def clean_row(self, row):
        if self.actor is not None and not has_role(self.actor, Role.SUPERVISOR):
            raise ValidationError(_("只有管理员可以维护门诊慢特病目录。"))
        errors: dict[str, list[str]] = {}
        region = self.regions.get(_text(row, "region"))
        if region is None:
            errors["region"] = [_("区划 %(code)s 不存在。") % {"code": _text(row, "region")}]
        valid_from = _date(row, "valid_from", errors)
        valid_to = _date(row, "valid_to", errors, required=False)
        flags = {k: _bool(row, k, errors) for k in ("unified_criteria", "separate_drug_payment", "illustrative")}
        if errors:
            raise ValidationError(errors)
        entry = services.clean_catalogue_entry({
            "code": _text(row, "code"), "name": _text(row, "name"), "icd10": _text(row, "icd10"),
            "criteria": _text(row, "criteria"), "rate_key": _text(row, "rate_key"), "cap_key": _text(row, "cap_key"),
            "valid_from": valid_from, "valid_to": valid_to, "source": _text(row, "source"), **flags})
        return region, entry

    def check_file(self, rows, cleaned):
        seen: dict[tuple, int] = {}
        errors = []
        for number, (region, entry) in cleaned:
            key = (region.code, entry["code"], entry["valid_from"])
            if key in seen:
                errors.append(RowError(number, "code", _("与第 %(row)s 行重复。") % {"row": seen[key]}))
            seen[key] = number
        return errors

    def write(self, cleaned, *, actor=None):
        total = [0, 0, 0]
        by_region: dict[int, tuple[Region, list]] = {}
        for region, entry in cleaned:
            by_region.setdefault(region.pk, (region, []))[1].append(entry)
        for region, entries in by_region.values():
            # From the command line without ``--user`` the import is a job (see clean_row).
            counts = services.catalogue_upsert(region=region, entries=entries,
                                               actor=actor if actor is not None else system_actor("chronic.import"),
                                               reason=_("门诊慢特病目录导入"))
            total = [a + b for a, b in zip(total, counts)]
        return tuple(total)


@dataclass
class _Skip:
    """A row already imported (same person, disease and validity start from a hospital)."""


@register
class CertificationImporter(_Importer):
    """Certifications decided by a designated hospital (定点医院认定结果), approved as imported."""

    name = "chronic_certifications"
    verbose_name = gettext_lazy("定点医院门诊慢特病认定结果")
    columns = ["person", "disease", "diagnosis", "hospital_code", "opinion", "decided_on", "reference"]
    required = {"person", "disease", "diagnosis", "hospital_code", "decided_on"}
    header_aliases = {"公民身份号码": "person", "身份证号": "person", "病种编码": "disease", "诊断编码": "diagnosis",
                      "认定医院编码": "hospital_code", "医院编码": "hospital_code", "认定意见": "opinion",
                      "认定日期": "decided_on", "认定编号": "reference"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.persons: dict[str, Person] = {}
        self.cache = PolicyCache()
        self.existing: dict[tuple[int, str], list[tuple[str, date | None, str]]] = {}

    def prepare(self, rows):
        ids = {normalise_id_number(_text(r, "person")) for r in rows} - set(self.persons)
        people = Person.objects.filter(id_number__in=ids).select_related("township", "village")
        if self.actor is not None and getattr(self.actor, "is_authenticated", False):
            people = scope_queryset(people, self.actor)
        found = {p.id_number: p for p in people}
        self.persons.update(found)
        live = (Certification.objects.filter(person_id__in=[p.pk for p in found.values()])
                .filter(Q(status__in=[CertificationStatus.DRAFT, CertificationStatus.SUBMITTED,
                                      CertificationStatus.RETURNED, CertificationStatus.RESUBMITTED,
                                      CertificationStatus.ASSESSED, CertificationStatus.APPROVED]))
                .values_list("person_id", "disease__code", "status", "valid_from", "valid_to", "channel"))
        for pid, code, status, vf, vt, channel in live:
            self.existing.setdefault((pid, code), []).append((status, vf, vt, channel))
        self.catalogues: dict[tuple[str, date], dict[str, ChronicDisease]] = {}

    def _catalogue(self, person: Person, on: date) -> dict[str, ChronicDisease]:
        key = (person.village.code, on)
        if key not in self.catalogues:
            self.catalogues[key] = {d.code: d for d in selectors.catalogue_in_force(person.village, on)}
        return self.catalogues[key]

    def clean_row(self, row):
        if not has_role(self.actor, Role.REVIEWER, Role.SUPERVISOR):
            raise ValidationError(_("只有审核人员可以导入定点医院认定结果(命令行请用 --user 指定账号)。"))
        errors: dict[str, list[str]] = {}
        idn = normalise_id_number(_text(row, "person"))
        person = self.persons.get(idn)
        if person is None:
            errors["person"] = [_("参保人 %(id)s 不存在或不在您的辖区。") % {"id": idn}]
        decided_on = _date(row, "decided_on", errors)
        if errors:
            raise ValidationError(errors)
        code = _text(row, "disease").upper()
        disease = self._catalogue(person, decided_on).get(code)
        if disease is None:
            raise ValidationError({"disease": [_("病种 %(code)s 不在本地区现行门诊慢特病目录中。") % {"code": code or "—"}]})
        diagnosis = services._check_diagnosis(disease, _text(row, "diagnosis"))
        snap = self.cache.get(person.village, decided_on)
        allowed = services.hospitals(snap)
        hospital = _text(row, "hospital_code")
        if hospital not in allowed:
            raise ValidationError({"hospital_code": [
                _("%(code)s 不是本地区可出具门诊慢特病认定意见的定点医院(可选:%(list)s)。")
                % {"code": hospital or "—", "list": "、".join(allowed.values()) or "—"}]})
        valid_from, valid_to = validity_window(decided_on, snap.integer("chronic.certification.valid_months"))
        for status, vf, vt, channel in self.existing.get((person.pk, code), ()):
            if status == CertificationStatus.APPROVED and vf == valid_from and channel == CertificationChannel.HOSPITAL:
                return _Skip()
            if status != CertificationStatus.APPROVED or vt is None or vt >= valid_from:
                raise ValidationError({"disease": [_("该人员已有该病种在办或有效期内的认定。")]})
        return {"person": person, "disease": disease, "diagnosis": diagnosis, "hospital_code": hospital,
                "hospital_name": allowed[hospital], "opinion": _text(row, "opinion") or _("符合认定标准"),
                "valid_from": valid_from, "valid_to": valid_to, "policy_version": snap.version,
                "reference": _text(row, "reference")[:200]}

    def check_file(self, rows, cleaned):
        seen: dict[tuple, int] = {}
        errors = []
        for number, value in cleaned:
            if isinstance(value, _Skip):
                continue
            key = (value["person"].pk, value["disease"].code)
            if key in seen:
                errors.append(RowError(number, "disease", _("与第 %(row)s 行重复。") % {"row": seen[key]}))
            seen[key] = number
        return errors

    def write(self, cleaned, *, actor=None):
        rows = [c for c in cleaned if not isinstance(c, _Skip)]
        created = services.certifications_import(rows=rows, actor=actor)
        return created, 0, len(cleaned) - len(rows)
