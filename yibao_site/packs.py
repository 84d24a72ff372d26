"""Shipped policy packs (``policy_packs/*.yaml``): read, validate, load onto a region."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from datetime import date
from pathlib import Path

import yaml
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from .actors import system_actor
from .models import Region
from .audit import bulk_create_audited
from .services import policy_parameter_save

PACK_DIR = Path(__file__).resolve().parent / "policy_packs"


#: Sections of a pack other than ``parameters`` (e.g. ``chronic_diseases``): name → loader
#: ``(region=, entries=, pack=, actor=, overwrite=)``, registered by the app that owns the data.
_SECTIONS: dict = {}


def register_section(name: str, loader) -> None:
    _SECTIONS[name] = loader


def available_packs() -> list[str]:
    return sorted(p.stem for p in PACK_DIR.glob("*.yaml"))


def read_pack(name: str) -> dict:
    """Return the parsed pack ``name`` (cached per file version; callers must not mutate it)."""
    path = PACK_DIR / f"{name}.yaml"
    if not path.exists():
        raise ValidationError({"pack": [_("政策包 %(name)s 不存在;可用:%(names)s")
                                        % {"name": name, "names": ", ".join(available_packs())}]})
    return _parse_pack(name, path.stat().st_mtime_ns)


@lru_cache(maxsize=8)
def _parse_pack(name: str, _version: int) -> dict:
    path = PACK_DIR / f"{name}.yaml"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    seen = set()
    for entry in data["parameters"]:
        if not isinstance(entry.get("effective_from"), date):
            raise ValidationError(f"{name}: {entry.get('key')} has no effective_from date")
        ident = (entry["key"], entry["effective_from"])
        if ident in seen:
            raise ValidationError(f"{name}: duplicate entry {ident}")
        seen.add(ident)
    check_citations(name, data["parameters"], data.get("seeds") or {})
    from .policy_schema import check_pack_entries

    problems = check_pack_entries(name, data["parameters"])
    if problems:
        raise ValidationError(problems)
    return data


def _cites_a_seed(source: str, seeds: dict) -> bool:
    """Whether ``source`` names one of the pack's seed documents (its ``seeds:`` keys such as
    ``004``; ``DOMAIN`` — the rulebook's defaults — is not a seed) — a citation, not just words."""
    return any(str(tag) in source for tag in seeds if str(tag) != "DOMAIN")


def check_citations(name: str, entries: list[dict], seeds: dict | None = None) -> None:
    """Refuse a pack with a value that neither cites its seed (``source`` naming one of the
    pack's ``seeds``) nor is marked ``illustrative: true`` with a ``source`` saying where the
    sensible default comes from (DOMAIN.md §…).  Every number a rule reads must be traceable."""
    if seeds is None:
        seeds = _parse_seeds(name)
    missing = []
    for entry in entries:
        source = str(entry.get("source") or "").strip()
        illustrative = entry.get("illustrative", False) is True
        if not source or (not illustrative and not _cites_a_seed(source, seeds)):
            missing.append(f"{entry.get('key')}@{entry.get('effective_from')}")
    if missing:
        raise ValidationError(
            _("政策包 %(name)s 中以下取值没有注明依据(source 引用种子文件)也未标注 illustrative: true:%(keys)s")
            % {"name": name, "keys": ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")})


def _parse_seeds(name: str) -> dict:
    path = PACK_DIR / f"{name}.yaml"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    return data.get("seeds") or {}


@dataclass
class PackLoadReport:
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    kept: int = 0  # differs from the pack but left as the supervisor set it


@transaction.atomic
def pack_load(*, name: str, region: Region, overwrite: bool = False, actor=None) -> PackLoadReport:
    """Load every parameter of pack ``name`` onto ``region``; a second run changes nothing.

    A value a supervisor has since changed is kept unless ``overwrite`` is given.
    """
    from .models import PolicyParameter

    data = read_pack(name)
    report = PackLoadReport()
    existing = {
        (p.key, p.effective_from): p
        for p in PolicyParameter.objects.filter(region=region)
    }
    reason = _("载入政策包 %(name)s") % {"name": name}
    new_rows = []
    for entry in data["parameters"]:
        fields = {
            "value": entry["value"],
            "source": entry.get("source", ""),
            "pack": name,
            "illustrative": bool(entry.get("illustrative", False)),
            "note": entry.get("doc", ""),
        }
        current = existing.get((entry["key"], entry["effective_from"]))
        if current is None:
            param = PolicyParameter(region=region, key=entry["key"], effective_from=entry["effective_from"], **fields)
            # The pack was checked for duplicate (key, date) when read; the region has none yet.
            param.full_clean(exclude=["region"], validate_unique=False, validate_constraints=False)
            new_rows.append(param)
            continue
        if current.value != fields["value"] and not overwrite:
            report.kept += 1
            continue
        _param, changed = policy_parameter_save(
            region=region, key=entry["key"], effective_from=entry["effective_from"], actor=actor,
            reason=reason, **fields,
        )
        if changed:
            report.changed += 1
        else:
            report.unchanged += 1
    bulk_create_audited(new_rows, PolicyParameter, actor=actor, reason=reason)
    report.created = len(new_rows)
    for section, loader in _SECTIONS.items():
        if data.get(section):
            loader(region=region, entries=data[section], pack=name, overwrite=overwrite,
                   actor=actor if actor is not None else system_actor("policy.pack_load"))
    return report
