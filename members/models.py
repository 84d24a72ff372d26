"""Persons, relatives, yearly enrolment, poverty identities and assistance entitlements.

The members helper owns this module; claims and assistance read it (never the reverse).
"""
from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from yibao_site.models import Region

from .validators import validate_id_number


class Sex(models.TextChoices):
    MALE = "M", _("男")
    FEMALE = "F", _("女")


class Person(models.Model):
    """An insured person (参保人), identified by an 18-character resident ID (GB 11643)."""

    id_number = models.CharField(_("公民身份号码"), max_length=18, unique=True, validators=[validate_id_number])
    name = models.CharField(_("姓名"), max_length=50, db_index=True)
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices, editable=False)
    birth_date = models.DateField(_("出生日期"), editable=False)
    village = models.ForeignKey(Region, verbose_name=_("村(社区)"), on_delete=models.PROTECT,
                                related_name="village_persons")
    # Derived from the village (its parent); kept on the row so township scoping and every
    # per-township list is one indexed equality, not a join.
    township = models.ForeignKey(Region, verbose_name=_("乡镇(街道)"), on_delete=models.PROTECT,
                                 related_name="township_persons", editable=False)
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    household_no = models.CharField(_("户号"), max_length=30, blank=True, db_index=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "township"

    class Meta:
        verbose_name = _("参保人员")
        verbose_name_plural = _("参保人员")
        ordering = ["id"]
        indexes = [models.Index(fields=["township", "name"])]

    def __str__(self) -> str:
        return f"{self.name}({self.masked_id})"

    @property
    def masked_id(self) -> str:
        from .validators import mask_id_number

        return mask_id_number(self.id_number)


class Relation(models.TextChoices):
    SPOUSE = "spouse", _("配偶")
    PARENT = "parent", _("父母")
    CHILD = "child", _("子女")
    SIBLING = "sibling", _("兄弟姐妹")
    GRANDPARENT = "grandparent", _("祖父母、外祖父母")
    GRANDCHILD = "grandchild", _("孙子女、外孙子女")


class Relative(models.Model):
    """A close relative of a person (近亲属): ``relative`` is the ``relation`` of ``person``."""

    person = models.ForeignKey(Person, verbose_name=_("本人"), on_delete=models.CASCADE, related_name="relatives")
    relative = models.ForeignKey(Person, verbose_name=_("亲属"), on_delete=models.CASCADE, related_name="+")
    relation = models.CharField(_("关系"), max_length=12, choices=Relation.choices)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("近亲属")
        verbose_name_plural = _("近亲属")
        constraints = [
            models.UniqueConstraint(fields=["person", "relative"], name="relative_unique_pair"),
            models.CheckConstraint(condition=~models.Q(person=models.F("relative")), name="relative_not_self"),
        ]


class Scheme(models.TextChoices):
    EMPLOYEE = "employee", _("职工医保")
    RESIDENT = "resident", _("城乡居民医保")


class EmployeeStatus(models.TextChoices):
    IN_SERVICE = "in_service", _("在职")
    RETIRED = "retired", _("退休")
    FLEXIBLE = "flexible", _("灵活就业")


class Enrollment(models.Model):
    """One person's enrolment in one scheme for one coverage year (年度参保)."""

    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="enrollments")
    year = models.PositiveSmallIntegerField(_("参保年度"))
    scheme = models.CharField(_("险种"), max_length=10, choices=Scheme.choices)
    employee_status = models.CharField(_("人员状态"), max_length=12, choices=EmployeeStatus.choices, blank=True)
    paid_on = models.DateField(_("缴费日期"))
    amount = models.DecimalField(_("个人缴费金额"), max_digits=14, decimal_places=2)
    # Derived by the enrolment service from the policy (DOMAIN.md §3); read-only everywhere.
    benefit_start = models.DateField(_("待遇开始"), editable=False)
    benefit_end = models.DateField(_("待遇结束"), editable=False)
    waiting_period = models.BooleanField(_("设等待期"), default=False, editable=False)
    continuous_years = models.PositiveSmallIntegerField(_("连续参保年数"), default=1, editable=False)
    critical_illness_cap = models.DecimalField(_("大病保险最高支付限额"), max_digits=14, decimal_places=2,
                                               null=True, blank=True, editable=False)
    active = models.BooleanField(_("有效"), default=True, db_index=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("年度参保")
        verbose_name_plural = _("年度参保")
        constraints = [
            models.UniqueConstraint(fields=["person", "year", "scheme"], name="enrollment_unique_person_year_scheme"),
        ]
        indexes = [models.Index(fields=["year", "scheme"]), models.Index(fields=["person", "year"])]

    def __str__(self) -> str:
        return f"{self.person_id} {self.year} {self.get_scheme_display()}"


class IdentityKind(models.TextChoices):
    EXTREME_POVERTY = "extreme_poverty", _("特困人员")
    ORPHAN = "orphan", _("孤儿")
    UNSUPPORTED_CHILD = "unsupported_child", _("事实无人抚养儿童")
    SUBSISTENCE = "subsistence", _("低保对象")
    RETURNED_POVERTY = "returned_poverty", _("返贫致贫人口")
    MARGINAL = "marginal", _("低保边缘家庭成员")
    MONITORED = "monitored", _("防止返贫监测帮扶对象")
    STABLE_ESCAPED = "stable_escaped", _("稳定脱贫人口")
    ILLNESS_POVERTY = "illness_poverty", _("因病致贫重病患者")
    OTHER_SPECIAL = "other_special", _("其他特殊困难人员")


class IdentitySource(models.TextChoices):
    CIVIL_AFFAIRS = "civil_affairs", _("民政")
    RURAL_REVITALIZATION = "rural_revitalization", _("乡村振兴")
    BUREAU = "bureau", _("医保局")


class Identity(models.Model):
    """A poverty identity from another department's list (困难身份), valid over a period."""

    person = models.ForeignKey(Person, verbose_name=_("人员"), on_delete=models.PROTECT, related_name="identities")
    kind = models.CharField(_("身份类别"), max_length=20, choices=IdentityKind.choices)
    valid_from = models.DateField(_("有效期起"))
    valid_to = models.DateField(_("有效期止"), null=True, blank=True)
    source = models.CharField(_("来源"), max_length=24, choices=IdentitySource.choices)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("困难身份")
        verbose_name_plural = _("困难身份")
        indexes = [models.Index(fields=["person", "kind"]), models.Index(fields=["kind", "valid_from"])]
        constraints = [
            models.UniqueConstraint(fields=["person", "kind", "valid_from"], name="identity_unique_person_kind_from"),
            models.CheckConstraint(condition=models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=models.F("valid_from")),
                                   name="identity_valid_range"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.valid_from}–{self.valid_to or ''}"


class EntitlementKind(models.TextChoices):
    DETERMINATION = "determination", _("救助对象认定(三、四类)")
    TILT = "tilt", _("倾斜救助")


class AssistanceEntitlement(models.Model):
    """An approved assistance entitlement (救助资格), written when a reviewer approves an
    application; settlement reads it.  ``application_id`` names the assistance application
    without a foreign key, so that members never depends on assistance."""

    person = models.ForeignKey(Person, verbose_name=_("人员"), on_delete=models.PROTECT, related_name="entitlements")
    kind = models.CharField(_("类型"), max_length=16, choices=EntitlementKind.choices)
    category = models.PositiveSmallIntegerField(_("救助类别"), null=True, blank=True)
    valid_from = models.DateField(_("有效期起"))
    valid_to = models.DateField(_("有效期止"))
    application_id = models.BigIntegerField(_("申请编号"), null=True, blank=True, unique=True)
    revoked_on = models.DateField(_("撤销日期"), null=True, blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("救助资格")
        verbose_name_plural = _("救助资格")
        indexes = [models.Index(fields=["person", "kind", "valid_from"])]
