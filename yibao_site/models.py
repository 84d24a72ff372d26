"""The shared kernel: regions, staff accounts with roles, dated policy parameters."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class RegionLevel(models.TextChoices):
    CITY = "city", _("市")
    COUNTY = "county", _("县(市、区)")
    TOWNSHIP = "township", _("乡镇(街道)")
    VILLAGE = "village", _("村(社区)")


LEVEL_ORDER = [RegionLevel.CITY, RegionLevel.COUNTY, RegionLevel.TOWNSHIP, RegionLevel.VILLAGE]


class Region(models.Model):
    """An administrative region: city → county → township → village (行政区划)."""

    code = models.CharField(
        _("区划代码"), max_length=12, unique=True,
        validators=[RegexValidator(r"^\d{6,12}$", _("区划代码应为6至12位数字。"))],
    )
    name = models.CharField(_("名称"), max_length=100)
    level = models.CharField(_("层级"), max_length=10, choices=RegionLevel.choices, db_index=True)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级区划"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="children",
    )
    # Materialised path of codes ("/420300/420302/420302001/"): "this region and below"
    # is one indexed prefix match instead of a recursive walk.
    path = models.CharField(_("路径"), max_length=80, editable=False, db_index=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "path"  # handled specially in scoping.scope_queryset

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]
        indexes = [
            models.Index(fields=["path"], name="region_path_prefix",
                         opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.name}({self.code})"

    def natural_key(self):
        return (self.code,)

    def build_path(self) -> str:
        prefix = self.parent.path if self.parent_id else "/"
        return f"{prefix}{self.code}/"

    def clean(self):
        if self.parent_id is None:
            if self.level != RegionLevel.CITY:
                raise ValidationError({"parent": _("只有市级区划可以没有上级。")})
            return
        expected = LEVEL_ORDER.index(RegionLevel(self.parent.level)) + 1
        if expected >= len(LEVEL_ORDER) or LEVEL_ORDER[expected] != self.level:
            raise ValidationError({"level": _("层级与上级区划不匹配。")})

    def ancestors_codes(self) -> list[str]:
        """Return the codes from the root down to this region, inclusive."""
        return [c for c in self.path.split("/") if c]

    def county_code(self) -> str | None:
        codes = self.ancestors_codes()
        return codes[1] if len(codes) > 1 else None


class Role(models.TextChoices):
    WINDOW_CLERK = "window_clerk", _("窗口经办")
    TOWNSHIP_AGENT = "township_agent", _("乡镇(街道)经办")
    REVIEWER = "reviewer", _("审核")
    FINANCE = "finance", _("财务")
    SUPERVISOR = "supervisor", _("管理员")


class User(AbstractUser):
    """A staff account with exactly one role; a township agent is bound to one township."""

    role = models.CharField(_("角色"), max_length=20, choices=Role.choices, blank=True)
    region = models.ForeignKey(
        Region, verbose_name=_("所属区划"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="staff",
        help_text=_("乡镇经办必须绑定一个乡镇(街道);其他角色留空表示全辖区。"),
    )
    phone = models.CharField(_("电话"), max_length=20, blank=True)

    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        verbose_name = _("工作人员")
        verbose_name_plural = _("工作人员")

    def clean(self):
        super().clean()
        if self.role == Role.TOWNSHIP_AGENT:
            if self.region_id is None or self.region.level != RegionLevel.TOWNSHIP:
                raise ValidationError({"region": _("乡镇经办必须绑定一个乡镇(街道)。")})

    @property
    def is_township_agent(self) -> bool:
        return self.role == Role.TOWNSHIP_AGENT

    def has_role(self, *roles: str) -> bool:
        return self.is_superuser or self.role in roles


class PolicyParameter(models.Model):
    """One dated policy number for a region (政策参数): in force from ``effective_from``.

    The value is JSON: a decimal string for amounts and rates ("0.85", "15000"), an integer,
    a boolean, or a list (e.g. the relations allowed to use a personal account).
    """

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT,
                               related_name="policy_parameters")
    key = models.CharField(
        _("参数键"), max_length=100,
        validators=[RegexValidator(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$",
                                   _("参数键应为小写点分名称,如 basic.resident.inpatient.rate.l1。"))],
    )
    value = models.JSONField(_("取值"), null=True, blank=True, help_text=_("null 表示不设(如不设限额)。"))
    effective_from = models.DateField(_("生效日期"))
    pack = models.CharField(_("政策包"), max_length=40, blank=True)
    source = models.CharField(_("依据"), max_length=300, blank=True,
                              help_text=_("出处:种子文件及条款,或注明示例值。"))
    illustrative = models.BooleanField(_("示例值"), default=False,
                                       help_text=_("政策文件未给出,按规则书示例取值。"))
    note = models.TextField(_("说明"), blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None  # city/county policy: no township agent sees it

    class Meta:
        verbose_name = _("政策参数")
        verbose_name_plural = _("政策参数")
        ordering = ["key", "region__code", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["region", "key", "effective_from"],
                                    name="policy_param_unique_region_key_date"),
        ]
        indexes = [models.Index(fields=["key", "region", "effective_from"])]

    def __str__(self) -> str:
        return f"{self.key}@{self.region.code} {self.effective_from}: {self.value}"

    def clean(self):
        """Check the key and value against the declared schema (policy_schema.py)."""
        from .policy_schema import clean_value

        super().clean()
        if not self.key:
            return
        region = self.region if self.region_id else None
        self.value = clean_value(self.key, self.value, region=region)


# ── the records every case workflow keeps (yibao_site/workflow.py) ───────────────────────
# Assistance applications and chronic-disease certifications keep the same three records of a
# case: its transition events, its supporting materials, its one-time notices (一次性告知).
# The case itself (the foreign key, the status and material-type choices, the file path and
# the verbose names) is each app's own; what is the same lives here once.

class CaseEventBase(models.Model):
    """One transition of a case: who, when, from, to, why (审核留痕)."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("操作人"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    reason = models.TextField(_("理由"), blank=True)
    data = models.JSONField(_("附加信息"), default=dict, blank=True)

    class Meta:
        abstract = True
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.from_status}→{self.to_status}"


class CaseMaterialBase(models.Model):
    """A supporting document of a case: an image or PDF, its type sniffed from its bytes
    (yibao_site/uploads.py); stored under a name that never reuses the uploaded one."""

    original_name = models.CharField(_("原文件名"), max_length=200)
    content_type = models.CharField(_("文件格式"), max_length=40)
    extension = models.CharField(_("扩展名"), max_length=6)
    size = models.PositiveIntegerField(_("大小(字节)"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("上传人"), on_delete=models.PROTECT,
                                    related_name="+")
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["uploaded_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_material_type_display()} · {self.original_name}"


class CaseNoticeBase(models.Model):
    """一次性告知: every missing item of a case listed at once.  ``MATERIAL_TYPES`` is the
    app's material-type choices (its ``OTHER`` member is the free-text item)."""

    MATERIAL_TYPES: type[models.TextChoices]

    number = models.CharField(_("告知书编号"), max_length=30, unique=True)
    missing = models.JSONField(_("需补正材料"), help_text=_("[{\"type\": 材料类型, \"note\": 说明}, …]"))
    reason = models.TextField(_("退回理由"), blank=True)
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("告知人"), on_delete=models.PROTECT,
                                  related_name="+")
    issued_at = models.DateTimeField(_("告知时间"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("补正时间"), null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-issued_at", "-id"]

    def __str__(self) -> str:
        return self.number

    def missing_items(self) -> list[dict]:
        labels = dict(self.MATERIAL_TYPES.choices)
        return [{**item, "label": str(labels.get(item.get("type"), item.get("type")))} for item in self.missing]

    def notice_lines(self) -> tuple[list[dict], str]:
        """What the printed notice lists: each missing material once, and the requirement the
        reviewer wrote for all of them once (not repeated after every item).  A note of its
        own ("其他材料" is …) stays on its item."""
        items = self.missing_items()
        other = self.MATERIAL_TYPES.OTHER
        notes = {item.get("note", "") for item in items if item.get("type") != other}
        common = notes.pop() if len(notes) == 1 and len(items) > 1 else ""
        if common:
            items = [{**item, "note": ""} if item.get("type") != other else item for item in items]
        return items, common


from .import_jobs import ImportJob  # noqa: E402,F401  (the background import's row, see import_jobs.py)
