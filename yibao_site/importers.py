"""The ``regions`` importer (API.md import resources)."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from .audit import bulk_create_audited, bulk_update_audited
from .imports import BulkImporter, RowError, register
from .models import LEVEL_ORDER, Region, RegionLevel


@register
class RegionImporter(BulkImporter):
    name = "regions"
    verbose_name = "行政区划"
    columns = ["code", "name", "level", "parent"]
    example = {"code": "420302001001", "name": "某某村", "level": "village", "parent": "420302001"}
    required = {"code", "name", "level"}
    header_aliases = {"区划代码": "code", "名称": "name", "层级": "level", "上级区划": "parent"}

    def prepare(self, rows):
        codes = {str(r.get("code", "")) for r in rows} | {str(r.get("parent") or "") for r in rows}
        self.existing = {r.code: r for r in Region.objects.filter(code__in=codes - {""})}
        self.in_file = getattr(self, "in_file", {})
        for r in rows:
            self.in_file.setdefault(str(r.get("code", "")), r.get("level"))

    def clean_row(self, row):
        errors: dict[str, list[str]] = {}
        code, name, level, parent = (str(row.get(k) or "").strip() for k in ("code", "name", "level", "parent"))
        if not code.isdigit() or not 6 <= len(code) <= 12:
            errors.setdefault("code", []).append(_("区划代码应为6至12位数字。"))
        if not name:
            errors.setdefault("name", []).append(_("名称不能为空。"))
        if level not in RegionLevel.values:
            errors.setdefault("level", []).append(_("层级应为 city/county/township/village 之一。"))
        if level and level != RegionLevel.CITY and not parent:
            errors.setdefault("parent", []).append(_("只有市级区划可以没有上级。"))
        if parent:
            parent_level = self.existing[parent].level if parent in self.existing else self.in_file.get(parent)
            if parent_level is None:
                errors.setdefault("parent", []).append(_("上级区划 %(code)s 不存在。") % {"code": parent})
            elif level in RegionLevel.values and LEVEL_ORDER.index(RegionLevel(parent_level)) + 1 != LEVEL_ORDER.index(RegionLevel(level)):
                errors.setdefault("level", []).append(_("层级与上级区划不匹配。"))
        if errors:
            raise ValidationError(errors)
        return (code, name, level, parent or None)

    def check_file(self, rows, cleaned):
        seen: dict[str, int] = {}
        errors = []
        for number, (code, *_rest) in cleaned:
            if code in seen:
                errors.append(RowError(number, "code", _("与第 %(row)s 行重复。") % {"row": seen[code]}))
            seen[code] = number
        return errors

    def write(self, cleaned, *, actor=None):
        # Parents first, so that each region's path can be built from its parent's.
        order = {lvl: i for i, lvl in enumerate(LEVEL_ORDER)}
        cleaned = sorted(cleaned, key=lambda c: order[RegionLevel(c[2])])
        codes = {c[0] for c in cleaned} | {c[3] for c in cleaned if c[3]}
        known = {r.code: r for r in Region.objects.filter(code__in=codes)}
        created = updated = unchanged = 0
        for level in LEVEL_ORDER:
            new, changed = [], []
            for code, name, lvl, parent in (c for c in cleaned if c[2] == level):
                parent_obj = known.get(parent) if parent else None
                path = f"{parent_obj.path if parent_obj else '/'}{code}/"
                current = known.get(code)
                if current is None:
                    region = Region(code=code, name=name, level=lvl, parent=parent_obj, path=path)
                    new.append(region)
                    known[code] = region
                elif (current.name, current.level, current.parent_id, current.path) != (
                        name, lvl, parent_obj.pk if parent_obj else None, path):
                    if current.path != path and Region.objects.filter(path__startswith=current.path).exclude(pk=current.pk).exists():
                        raise ValidationError(_("区划 %(code)s 已有下级,请在后台调整上级。") % {"code": code})
                    current.name, current.level, current.parent, current.path = name, lvl, parent_obj, path
                    changed.append(current)
                else:
                    unchanged += 1
            bulk_create_audited(new, Region, actor=actor, reason=_("导入区划"))
            bulk_update_audited(changed, Region, ["name", "level", "parent", "path"], actor=actor, reason=_("导入区划"))
            created += len(new)
            updated += len(changed)
        return created, updated, unchanged
