"""The chronic-disease catalogue (病种目录): checked entries, upserts from packs and imports,
a supervisor's edits."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Region

from .. import rules
from ..models import ChronicDisease
from .common import CATALOGUE_ROLES


CATALOGUE_FIELDS = ("name", "icd10", "criteria", "unified_criteria", "separate_drug_payment", "rate_key", "cap_key",
                    "valid_to", "illustrative", "source")


def clean_catalogue_entry(entry: dict) -> dict:
    """Check one catalogue entry (pack, import or admin); return the model's field values."""
    errors: dict[str, list[str]] = {}
    code = str(entry.get("code") or "").strip().upper()
    if not code or len(code) > 20:
        errors["code"] = [_("请填写病种编码(不超过20个字符)。")]
    name = str(entry.get("name") or "").strip()
    if not name:
        errors["name"] = [_("请填写病种名称。")]
    icd = entry.get("icd10") or []
    if isinstance(icd, str):
        icd = [part.strip() for part in icd.replace(",", ";").replace("、", ";").split(";") if part.strip()]
    bad = [r for r in icd if not all(rules.valid_icd10(b) for b in str(r).split("-"))]
    if bad:
        errors["icd10"] = [_("ICD-10 编码范围格式不正确:%(bad)s(例如 I10-I15 或 B18)。") % {"bad": "、".join(map(str, bad))}]
    valid_from = entry.get("effective_from") or entry.get("valid_from")
    if not isinstance(valid_from, date):
        errors["valid_from"] = [_("请填写生效日期。")]
    valid_to = entry.get("valid_to")
    if valid_to is not None and not isinstance(valid_to, date):
        errors["valid_to"] = [_("日期格式应为 YYYY-MM-DD。")]
    elif valid_to is not None and isinstance(valid_from, date) and valid_to < valid_from:
        errors["valid_to"] = [_("失效日期不能早于生效日期。")]
    for key in ("rate_key", "cap_key"):
        if len(str(entry.get(key) or "")) > 80:
            errors[key] = [_("参数名过长。")]
    if errors:
        raise ValidationError(errors)
    return {"code": code, "valid_from": valid_from, "name": name[:80],
            "icd10": [rules.normalize_icd10(r) for r in icd], "criteria": str(entry.get("criteria") or "").strip(),
            "unified_criteria": bool(entry.get("unified_criteria", False)),
            "separate_drug_payment": bool(entry.get("separate_drug_payment", False)),
            "rate_key": str(entry.get("rate_key") or "").strip(), "cap_key": str(entry.get("cap_key") or "").strip(),
            "valid_to": valid_to, "illustrative": bool(entry.get("illustrative", False)),
            "source": str(entry.get("source") or "").strip()[:200]}


def catalogue_upsert(*, region: Region, entries: list[dict], actor, pack: str = "", overwrite: bool = True,
                     reason: str = "") -> tuple[int, int, int]:
    """Create or update catalogue rows by (region, code, valid_from); return (created, updated,
    unchanged).  With ``overwrite=False`` a row a supervisor changed is kept as it is.  A
    supervisor, or a job (a policy pack load, a command-line import)."""
    require_actor(actor, CATALOGUE_ROLES, system=True, message=_("只有管理员可以维护门诊慢特病目录。"))
    cleaned = [clean_catalogue_entry(e) for e in entries]
    existing = {(d.code, d.valid_from): d for d in ChronicDisease.objects.select_for_update().filter(region=region)}
    created = updated = unchanged = 0
    reason = reason or _("维护门诊慢特病目录")
    for values in cleaned:
        row = existing.get((values["code"], values["valid_from"]))
        if row is None:
            row = ChronicDisease(region=region, pack=pack, **values)
            row.full_clean(validate_unique=False, validate_constraints=False)
            audited_save(row, actor=actor, reason=reason)
            created += 1
            continue
        changes = [f for f in CATALOGUE_FIELDS if getattr(row, f) != values[f]]
        if not changes or (pack and not overwrite and row.pack != pack):
            unchanged += 1  # the same, or edited by a supervisor since the pack was loaded: kept
            continue
        for f in changes:
            setattr(row, f, values[f])
        row.pack = pack
        audited_save(row, actor=actor, reason=reason, update_fields=[*changes, "pack"])
        updated += 1
    return created, updated, unchanged


def catalogue_load_from_pack(*, region: Region, entries: list[dict], pack: str, actor, overwrite=False) -> None:
    """The ``chronic_diseases`` section of a policy pack, loaded with its parameters."""
    catalogue_upsert(region=region, entries=entries, actor=actor, pack=pack, overwrite=overwrite,
                     reason=_("载入政策包 %(name)s") % {"name": pack})


@transaction.atomic
def disease_save(*, actor, disease: ChronicDisease, reason: str = "") -> ChronicDisease:
    """Save a catalogue row edited in the admin (a supervisor's job)."""
    require_actor(actor, CATALOGUE_ROLES, message=_("只有管理员可以维护门诊慢特病目录。"))
    values = clean_catalogue_entry({**{f: getattr(disease, f) for f in CATALOGUE_FIELDS},
                                    "code": disease.code, "valid_from": disease.valid_from})
    for key, value in values.items():
        setattr(disease, key, value)
    disease.pack = ""  # no longer the pack's row: a later pack load keeps it (unless --overwrite)
    disease.full_clean()
    audited_save(disease, actor=actor, reason=reason or _("维护门诊慢特病目录"))
    return disease
