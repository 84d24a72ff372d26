"""Persons, relatives, yearly enrolment, poverty identities and assistance entitlements.

The members helper owns this module; claims and assistance read it (never the reverse).
"""
from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from yibao_site.models import Region

from yibao_site.idnumbers import mask_id_number, validate_id_number


class Sex(models.TextChoices):
    MALE = "M", _("男")
    FEMALE = "F", _("女")


class Person(models.Model):
    """An insured person (参保人), identified by an 18-character resident ID (GB 11643)."""

    # Unique by the pattern-ops index in Meta (one index for ``=``, ``= ANY``, the prefix search
    # and the uniqueness; the field's own ``unique=True`` would keep up two).
    id_number = models.CharField(_("公民身份号码"), max_length=18, validators=[validate_id_number])
    # Indexed in Meta (one pattern index serves both ``=`` and the admin's prefix search).
    name = models.CharField(_("姓名"), max_length=50)
    sex = models.CharField(_("性别"), max_length=1, choices=Sex.choices, editable=False)
    birth_date = models.DateField(_("出生日期"), editable=False)
    village = models.ForeignKey(Region, verbose_name=_("村(社区)"), on_delete=models.PROTECT,
                                related_name="village_persons")
    # Derived from the village (its parent); kept on the row so township scoping and every
    # per-township list is one indexed equality, not a join.
    # No index of its own: (township, name) below starts with it.
    township = models.ForeignKey(Region, verbose_name=_("乡镇(街道)"), on_delete=models.PROTECT,
                                 related_name="township_persons", editable=False, db_index=False)
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    household_no = models.CharField(_("户号"), max_length=30, blank=True)  # indexed in Meta (equality only)
    # The ID's first six digits name where it was issued, not where the person lives now
    # (people move): a mismatch with the village's county is allowed but flagged.
    id_outside_county = models.BooleanField(_("外地身份证"), default=False, editable=False,
                                            help_text=_("身份证号前六位与居住地所属县(市、区)不一致。"))
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    # The history is read by record (``id``), date and user only: the person's own indexes
    # are not copied onto it (an import writes a history row per person).  ``history_user``
    # keeps its index (the audit page filters by user) but has no database constraint: an
    # import's history rows were each checked again at commit (100 000 deferred checks, ≈ 4 %
    # of a persons import, issue 14) for the one actor of the audited write; Django still
    # applies ``SET_NULL`` when a user is deleted.
    history = HistoricalRecords(no_db_index=["id_number", "name", "household_no", "village", "township"],
                                user_db_constraint=False)

    SCOPE_TOWNSHIP = "township"

    class Meta:
        verbose_name = _("参保人员")
        verbose_name_plural = _("参保人员")
        ordering = ["id"]
        # Every index is kept up on each import (issue 14): none is a prefix of another or of
        # a unique constraint.
        constraints = [
            # ``id_number = x`` / ``= ANY(…)`` and ``LIKE 'x%'`` (the prefix searches of the change
            # list, the API and the agents' search) under any collation, and the key's uniqueness:
            # one index.  A single-field UniqueConstraint validates (forms, ``full_clean``) with the
            # field's own "already exists" message, under the field.
            models.UniqueConstraint(fields=["id_number"], name="members_person_id_number_key",
                                    opclasses=["varchar_pattern_ops"]),
        ]
        indexes = [
            models.Index(fields=["township", "name"]),
            # ``name = x`` and ``name LIKE 'x%'`` (the change list's search) under any collation.
            models.Index(fields=["name"], opclasses=["varchar_pattern_ops"], name="person_name_pattern_idx"),
            models.Index(fields=["household_no"], name="person_household_idx"),
            # The change list's "外地身份证" filter: the few flagged rows only (small to keep up
            # on import); "not flagged" is nearly everyone and needs no index.
            models.Index(fields=["id"], condition=models.Q(id_outside_county=True), name="person_outside_county_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}({self.masked_id})"

    @property
    def masked_id(self) -> str:
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


class EnrollmentVia(models.TextChoices):
    WINDOW = "window", _("窗口")
    SCHOOL = "school", _("学校统一参保")
    ACCOUNT = "account", _("个人账户代缴")
    IMPORT = "import", _("批量导入")
    EMPLOYER = "employer", _("用人单位")


class Enrollment(models.Model):
    """One person's enrolment in one scheme for one coverage year (年度参保)."""

    # No index of its own: the unique (person, year, scheme) starts with it.
    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="enrollments",
                               db_index=False)
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
    active = models.BooleanField(_("有效"), default=True)  # nearly every row is active: no index
    via = models.CharField(_("参保渠道"), max_length=10, choices=EnrollmentVia.choices, default=EnrollmentVia.WINDOW)
    contribution_base = models.DecimalField(_("缴费基数(月)"), max_digits=14, decimal_places=2, null=True, blank=True)
    # 单建统筹: a flexible worker paying into the pooling fund only gets no personal account
    # (004 第十一条(二)).
    pooling_only = models.BooleanField(_("单建统筹"), default=False,
                                       help_text=_("灵活就业人员按单建统筹方式参保,不配置个人账户"))
    subsidy_amount = models.DecimalField(_("资助金额"), max_digits=14, decimal_places=2, default=0, editable=False)
    newborn = models.BooleanField(_("新生儿"), default=False, editable=False)
    break_years = models.PositiveSmallIntegerField(_("断保年数"), default=0, editable=False)
    # Set by claims when the fund pays anything for the person in this year (零报销激励).
    had_fund_payment = models.BooleanField(_("当年有基金报销"), default=False, editable=False)
    lump_sum = models.ForeignKey("StudentLumpSum", verbose_name=_("学生趸缴"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="enrollments", editable=False)
    policy_version = models.CharField(_("政策版本"), max_length=60, blank=True, editable=False)
    created_at = models.DateTimeField(_("登记时间"), default=timezone.now, editable=False)

    # ``history_user`` without a database constraint, as the persons' history (an import writes
    # a history row per enrolment).
    history = HistoricalRecords(no_db_index=["person", "active", "lump_sum"], user_db_constraint=False)

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("年度参保")
        verbose_name_plural = _("年度参保")
        constraints = [
            models.UniqueConstraint(fields=["person", "year", "scheme"], name="enrollment_unique_person_year_scheme"),
            models.UniqueConstraint(fields=["person", "year"], condition=models.Q(active=True),
                                    name="enrollment_one_active_scheme"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="enrollment_amount_not_negative"),
            models.CheckConstraint(condition=models.Q(benefit_end__gte=models.F("benefit_start")),
                                   name="enrollment_benefit_range"),
        ]
        # (person, year) and person are prefixes of the unique (person, year, scheme).
        indexes = [models.Index(fields=["year", "scheme"])]

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

    # No index of its own: the unique (person, kind, valid_from) starts with it.
    person = models.ForeignKey(Person, verbose_name=_("人员"), on_delete=models.PROTECT, related_name="identities",
                               db_index=False)
    kind = models.CharField(_("身份类别"), max_length=20, choices=IdentityKind.choices)
    valid_from = models.DateField(_("有效期起"))
    valid_to = models.DateField(_("有效期止"), null=True, blank=True)
    source = models.CharField(_("来源"), max_length=24, choices=IdentitySource.choices)

    history = HistoricalRecords(no_db_index=["person"], user_db_constraint=False)  # (as the persons' history)

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("困难身份")
        verbose_name_plural = _("困难身份")
        # (person, kind) is a prefix of the unique (person, kind, valid_from).
        indexes = [models.Index(fields=["kind", "valid_from"])]
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
    # 一次性追溯救助: the determination's category applied to the care of the look-back window
    # before it (DOMAIN.md §6); settlement reads it like a determination for those dates.
    RETROACTIVE = "retroactive", _("一次性追溯救助")


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


class StudentLumpSum(models.Model):
    """A student's multi-year lump-sum resident premium paid through the school (学生趸缴).

    One enrolment per covered year is created with it; the premium of the first year applies to
    every year: no top-up if the standard later rises (``members.student.lump_sum_no_topup``).
    """

    person = models.ForeignKey(Person, verbose_name=_("学生"), on_delete=models.PROTECT, related_name="lump_sums")
    school = models.CharField(_("学校"), max_length=100)
    first_year = models.PositiveSmallIntegerField(_("起始年度"))
    years = models.PositiveSmallIntegerField(_("学制年数"))
    paid_on = models.DateField(_("缴费日期"))
    yearly_amount = models.DecimalField(_("每年缴费"), max_digits=14, decimal_places=2)
    total_amount = models.DecimalField(_("趸缴总额"), max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("学生趸缴")
        verbose_name_plural = _("学生趸缴")
        constraints = [
            models.CheckConstraint(condition=models.Q(years__gte=1), name="lump_sum_years_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.school} {self.first_year}+{self.years}"


class PersonalAccount(models.Model):
    """An employee's personal account (职工医保个人账户); the balance never goes negative."""

    person = models.OneToOneField(Person, verbose_name=_("账户人"), on_delete=models.PROTECT,
                                  related_name="personal_account")
    balance = models.DecimalField(_("余额"), max_digits=14, decimal_places=2, default=0, editable=False)
    opened_on = models.DateField(_("开户日期"))
    closed_on = models.DateField(_("销户日期"), null=True, blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("个人账户")
        verbose_name_plural = _("个人账户")
        constraints = [models.CheckConstraint(condition=models.Q(balance__gte=0), name="account_balance_not_negative")]

    def __str__(self) -> str:
        return f"{self.person} {self.balance}"


class EntryKind(models.TextChoices):
    CREDIT = "credit", _("按月划入")
    SPEND = "spend", _("本人支付")
    RELATIVE_PREMIUM = "relative_premium", _("代缴近亲属居民医保")
    RELATIVE_EXPENSE = "relative_expense", _("支付近亲属医药费用")
    PAYOUT = "payout", _("死亡或出国(境)定居一次性支付")
    REFUND = "refund", _("冲正退回")


class AccountEntry(models.Model):
    """One movement on a personal account (个人账户明细); ``amount`` is signed."""

    account = models.ForeignKey(PersonalAccount, verbose_name=_("账户"), on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(_("类型"), max_length=20, choices=EntryKind.choices)
    amount = models.DecimalField(_("金额"), max_digits=14, decimal_places=2)
    balance_after = models.DecimalField(_("发生后余额"), max_digits=14, decimal_places=2)
    on = models.DateField(_("发生日期"))
    month = models.DateField(_("划入月份"), null=True, blank=True)  # first day of the month credited
    relative = models.ForeignKey(Person, verbose_name=_("代缴对象"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    enrollment = models.ForeignKey(Enrollment, verbose_name=_("代缴参保"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="account_entries")
    memo = models.CharField(_("摘要"), max_length=200, blank=True)
    policy_version = models.CharField(_("政策版本"), max_length=60, blank=True)
    created_at = models.DateTimeField(_("记账时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "account__person__township"

    class Meta:
        verbose_name = _("个人账户明细")
        verbose_name_plural = _("个人账户明细")
        ordering = ["account", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(balance_after__gte=0), name="account_entry_balance_not_negative"),
            # A scheduled credit run for a month never credits an account twice.
            models.UniqueConstraint(fields=["account", "month"], condition=models.Q(kind="credit"),
                                    name="account_entry_one_credit_per_month"),
        ]
        indexes = [models.Index(fields=["kind", "month"])]


class OffsiteKind(models.TextChoices):
    RELOCATION = "relocation", _("异地安置")
    REFERRAL = "referral", _("转诊转院")


class OffsiteRegistration(models.Model):
    """Off-site treatment registration (异地就医备案); claims read it for referral and coverage."""

    person = models.ForeignKey(Person, verbose_name=_("人员"), on_delete=models.PROTECT, related_name="offsite_registrations")
    kind = models.CharField(_("备案类型"), max_length=12, choices=OffsiteKind.choices)
    destination = models.CharField(_("就医地"), max_length=100)
    in_province = models.BooleanField(_("省内"), default=True)
    hospital = models.CharField(_("转入医院"), max_length=100, blank=True)
    valid_from = models.DateField(_("备案有效期起"))
    valid_to = models.DateField(_("备案有效期止"))
    revoked_on = models.DateField(_("撤销日期"), null=True, blank=True)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("异地就医备案")
        verbose_name_plural = _("异地就医备案")
        indexes = [models.Index(fields=["person", "valid_from"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(valid_to__gte=models.F("valid_from")), name="offsite_valid_range"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.destination} {self.valid_from}–{self.valid_to}"


class IdentityImport(models.Model):
    """One monthly identity list from a department, applied in one transaction (身份数据比对)."""

    source = models.CharField(_("来源"), max_length=24, choices=IdentitySource.choices)
    as_of = models.DateField(_("名单日期"))
    file_name = models.CharField(_("文件名"), max_length=200, blank=True)
    new_count = models.PositiveIntegerField(_("新增"), default=0)
    changed_count = models.PositiveIntegerField(_("变更"), default=0)
    ended_count = models.PositiveIntegerField(_("终止"), default=0)
    unchanged_count = models.PositiveIntegerField(_("未变"), default=0)
    report = models.JSONField(_("比对明细"), default=dict, blank=True)
    created_at = models.DateTimeField(_("导入时间"), auto_now_add=True)
    created_by = models.ForeignKey("yibao_site.User", verbose_name=_("导入人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("身份名单导入")
        verbose_name_plural = _("身份名单导入")
        ordering = ["-created_at"]


class BatchStatus(models.TextChoices):
    DRAFT = "draft", _("草稿(可重算)")
    CONFIRMED = "confirmed", _("已确认(冻结)")


class SubsidyBatch(models.Model):
    """The yearly list of persons whose resident premium the state pays (资助参保名单)."""

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT, related_name="subsidy_batches")
    year = models.PositiveSmallIntegerField(_("参保年度"))
    status = models.CharField(_("状态"), max_length=10, choices=BatchStatus.choices, default=BatchStatus.DRAFT,
                              editable=False)
    count = models.PositiveIntegerField(_("人数"), default=0, editable=False)
    total_amount = models.DecimalField(_("资助总额"), max_digits=14, decimal_places=2, default=0, editable=False)
    policy_version = models.CharField(_("政策版本"), max_length=60, blank=True, editable=False)
    built_at = models.DateTimeField(_("生成时间"), null=True, blank=True, editable=False)
    built_by = models.ForeignKey("yibao_site.User", verbose_name=_("生成人"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+", editable=False)
    confirmed_at = models.DateTimeField(_("确认时间"), null=True, blank=True, editable=False)
    confirmed_by = models.ForeignKey("yibao_site.User", verbose_name=_("确认人"), null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+", editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("资助参保批次")
        verbose_name_plural = _("资助参保批次")
        ordering = ["-year", "region__code"]
        constraints = [models.UniqueConstraint(fields=["region", "year"], name="subsidy_batch_unique_region_year")]

    def __str__(self) -> str:
        return f"{self.region.name} {self.year}"


class SubsidyLine(models.Model):
    """One subsidised person in a batch: the identity used (the highest only) and the amount."""

    batch = models.ForeignKey(SubsidyBatch, verbose_name=_("批次"), on_delete=models.CASCADE, related_name="lines")
    person = models.ForeignKey(Person, verbose_name=_("人员"), on_delete=models.PROTECT, related_name="subsidy_lines")
    year = models.PositiveSmallIntegerField(_("参保年度"))
    township = models.ForeignKey(Region, verbose_name=_("乡镇(街道)"), on_delete=models.PROTECT, related_name="+")
    identity = models.ForeignKey(Identity, verbose_name=_("所用身份"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("身份类别"), max_length=20, choices=IdentityKind.choices)
    rate = models.DecimalField(_("资助比例"), max_digits=6, decimal_places=4, null=True, blank=True)
    premium = models.DecimalField(_("计算基数"), max_digits=14, decimal_places=2)
    amount = models.DecimalField(_("资助金额"), max_digits=14, decimal_places=2)

    SCOPE_TOWNSHIP = "township"

    class Meta:
        verbose_name = _("资助参保明细")
        verbose_name_plural = _("资助参保明细")
        ordering = ["batch", "township", "person"]
        constraints = [
            # 不得重复资助: one subsidy per person and year, whichever batch holds it.
            models.UniqueConstraint(fields=["person", "year"], name="subsidy_line_one_per_person_year"),
        ]
        indexes = [models.Index(fields=["batch", "kind"]), models.Index(fields=["batch", "township"])]
