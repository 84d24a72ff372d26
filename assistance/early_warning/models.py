"""The double early warning (因病返贫/因病致贫双预警, DOMAIN.md §7).

A :class:`WarningRun` is one region's list for one month; its :class:`PersonWarning` rows are the
persons whose year-to-date out-of-pocket is above their group's threshold.  Each run is pushed
to every partner department as one :class:`WarningDelivery` (an HMAC-signed JSON POST to the
department's :class:`PushEndpoint`, or an XLSX download when it has none), each attempt logged
as a :class:`DeliveryAttempt`.  Departments acknowledge deliveries and send back
determinations, which close warnings.
"""
from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from yibao_site.models import Region


class Department(models.TextChoices):
    """The partner departments that receive the lists (values match ``IdentitySource``)."""

    CIVIL_AFFAIRS = "civil_affairs", _("民政部门")
    RURAL_REVITALIZATION = "rural_revitalization", _("乡村振兴部门")


class WarningKind(models.TextChoices):
    RETURN_TO_POVERTY = "return_to_poverty", _("因病返贫预警")
    INTO_POVERTY = "into_poverty", _("因病致贫预警")


class WarningStatus(models.TextChoices):
    OPEN = "open", _("待核定")
    DETERMINED = "determined", _("已认定为救助对象")
    NOT_DETERMINED = "not_determined", _("核定不予认定")


class PartnerAccount(models.Model):
    """Binds an API account to a partner department (民政 / 乡村振兴).

    A partner account is a user with no staff role (``role`` blank, ``is_staff`` false): the
    kernel's role checks refuse it everywhere, and this app's views let it read the warning
    lists, acknowledge its own department's deliveries and send determinations.  Its
    ``region`` (city or county) bounds what it sees, like any other account.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("账号"), on_delete=models.CASCADE,
                                related_name="partner_account")
    department = models.CharField(_("部门"), max_length=24, choices=Department.choices)
    active = models.BooleanField(_("启用"), default=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("协作部门账号")
        verbose_name_plural = _("协作部门账号")

    def __str__(self) -> str:
        return f"{self.user.username}({self.get_department_display()})"


class PushEndpoint(models.Model):
    """Where a department receives a region's monthly lists (推送接口)."""

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT,
                               related_name="warning_endpoints",
                               help_text=_("市或县(区);下级区划的批次沿用最近上级的配置。"))
    department = models.CharField(_("部门"), max_length=24, choices=Department.choices)
    url = models.URLField(_("接收地址"), max_length=300)
    secret = models.CharField(_("签名密钥"), max_length=128,
                              help_text=_("HMAC-SHA256 签名密钥,与对方约定,至少16个字符。"))
    active = models.BooleanField(_("启用"), default=True)
    note = models.CharField(_("说明"), max_length=200, blank=True)

    history = HistoricalRecords(excluded_fields=["secret"])

    SCOPE_TOWNSHIP = "region"

    class Meta:
        verbose_name = _("推送接口")
        verbose_name_plural = _("推送接口")
        constraints = [
            models.UniqueConstraint(fields=["region", "department"], name="ew_endpoint_unique_region_department"),
        ]

    def __str__(self) -> str:
        return f"{self.region.name} {self.get_department_display()}"


class WarningRun(models.Model):
    """One region's double early-warning list for one month (月度预警批次)."""

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT, related_name="warning_runs")
    month = models.DateField(_("预警月份"), help_text=_("该月1日;累计自负统计到该月末。"))
    # Per county: {"420302": {"income": "16000", "income_year": 2023, "return_to_poverty": "8000.00", …}}
    thresholds = models.JSONField(_("预警线"), default=dict)
    policy_used = models.JSONField(_("所用政策参数"), default=dict)
    policy_version = models.CharField(_("政策版本"), max_length=200, blank=True)
    count = models.PositiveIntegerField(_("预警人数"), default=0)
    return_count = models.PositiveIntegerField(_("返贫预警人数"), default=0)
    into_count = models.PositiveIntegerField(_("致贫预警人数"), default=0)
    new_count = models.PositiveIntegerField(_("本月新增"), default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发起人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    trigger = models.CharField(_("触发方式"), max_length=20, default="api")
    created_at = models.DateTimeField(_("生成时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "region"

    class Meta:
        verbose_name = _("预警批次")
        verbose_name_plural = _("预警批次")
        ordering = ["-month", "region__code"]
        constraints = [models.UniqueConstraint(fields=["region", "month"], name="ew_run_unique_region_month")]
        indexes = [models.Index(fields=["month"])]

    def __str__(self) -> str:
        return f"{self.region.name} {self.month:%Y-%m}"


class PersonWarning(models.Model):
    """One person on one month's list (预警名单明细)."""

    # Lists are written tens of thousands of rows at a time: no index that another one
    # already covers (run → (month, kind) with the run's month, see below; person → the unique
    # (person, kind, month); township → (township, month)).
    # No database foreign-key constraint on run, person and township either: the rows are
    # written only by the run's ``INSERT … SELECT``, which takes them from the run row it has
    # just written and from the ledger joined to its persons (both constrained), so each
    # reference is valid by construction; a constraint would check it again row by row, with a
    # row lock on each person (≈ 40 % of the whole-year run at a million insured).  Deleting a
    # referenced run, person or region is still refused (``PROTECT``, enforced by Django).
    run = models.ForeignKey(WarningRun, verbose_name=_("批次"), on_delete=models.PROTECT, related_name="warnings",
                            db_index=False, db_constraint=False)
    person = models.ForeignKey("members.Person", verbose_name=_("人员"), on_delete=models.PROTECT,
                               related_name="warnings", db_index=False, db_constraint=False)
    # Copied from the person when the list is built, so scoping and per-township counts
    # are one indexed column, and the list keeps the township it was sent with.
    township = models.ForeignKey(Region, verbose_name=_("乡镇(街道)"), on_delete=models.PROTECT, related_name="+",
                                 db_index=False, db_constraint=False)
    kind = models.CharField(_("预警类型"), max_length=20, choices=WarningKind.choices)
    month = models.DateField(_("预警月份"))
    out_of_pocket = models.DecimalField(_("当年累计自负"), max_digits=14, decimal_places=2)
    threshold = models.DecimalField(_("预警线"), max_digits=14, decimal_places=2)
    is_new = models.BooleanField(_("本月新增"))
    status = models.CharField(_("核定状态"), max_length=16, choices=WarningStatus.choices, default=WarningStatus.OPEN)
    determined_department = models.CharField(_("核定部门"), max_length=24, choices=Department.choices, blank=True)
    determined_at = models.DateTimeField(_("核定登记时间"), null=True, blank=True)
    # Set only by ``warning_determine`` (the acting user and the identity it has just written,
    # both in its transaction), empty when the run writes the row.  No database constraint:
    # PostgreSQL queues a constraint's check for every inserted row even when the column is
    # NULL, i.e. two deferred checks per warning at the run's commit for columns the run never
    # sets; Django still applies ``SET_NULL`` / ``PROTECT`` on delete.
    determined_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+", db_index=False,
                                      db_constraint=False)
    # Set only when a department determines the warning: indexed where set (``ew_warning_identity``).
    identity = models.ForeignKey("members.Identity", verbose_name=_("认定身份"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    determination_note = models.CharField(_("核定说明"), max_length=300, blank=True)

    # History rows are read per warning (by id); the other foreign keys need no index there.
    # ``history_user`` without a database constraint (like the history's other references):
    # the run writes tens of thousands of history rows at once, each of which a constraint
    # would check again at commit; the user is the actor of the audited write.
    history = HistoricalRecords(no_db_index=["run", "person", "township", "identity", "determined_by"],
                                user_db_constraint=False)

    SCOPE_TOWNSHIP = "township"

    class Meta:
        verbose_name = _("预警人员")
        verbose_name_plural = _("预警人员")
        ordering = ["-month", "kind", "id"]
        constraints = [
            models.UniqueConstraint(fields=["person", "kind", "month"], name="ew_warning_unique_person_kind_month"),
        ]
        indexes = [
            models.Index(fields=["month", "kind"]),
            models.Index(fields=["township", "month"]),
            # No (run, …) index: a run is one region's list for one month and its readers (the
            # export, the push payload, the API's ``?run=``) filter by the run's month too, which
            # the (month, kind) index serves — one index less for the run to maintain.
            # Every warning is written open, tens of thousands at a time, and most stay open:
            # "open" is never the selective value (its counts read the other indexes or the
            # table), so the index holds only the decided ones (those a status filter picks
            # out) and the run's inserts do not maintain it.
            models.Index(fields=["status", "month"], condition=~Q(status=WarningStatus.OPEN),
                         name="ew_warning_status_decided"),
            models.Index(fields=["identity"], condition=Q(identity__isnull=False), name="ew_warning_identity"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.month:%Y-%m} {self.person_id}"


class Channel(models.TextChoices):
    PUSH = "push", _("接口推送")
    DOWNLOAD = "download", _("后台下载")


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待推送")
    SENDING = "sending", _("推送中")
    DELIVERED = "delivered", _("已送达")
    FAILED = "failed", _("推送失败")
    AWAITING_DOWNLOAD = "awaiting_download", _("待下载")
    DOWNLOADED = "downloaded", _("已下载")


class WarningDelivery(models.Model):
    """One run's list for one department (推送记录); at most one per run and department."""

    run = models.ForeignKey(WarningRun, verbose_name=_("批次"), on_delete=models.PROTECT, related_name="deliveries")
    department = models.CharField(_("部门"), max_length=24, choices=Department.choices)
    # The receiver de-duplicates on this key: every attempt of this delivery carries it.
    key = models.UUIDField(_("幂等键"), default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(_("方式"), max_length=10, choices=Channel.choices)
    endpoint = models.ForeignKey(PushEndpoint, verbose_name=_("推送接口"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(_("状态"), max_length=20, choices=DeliveryStatus.choices, db_index=True)
    attempts = models.PositiveIntegerField(_("尝试次数"), default=0)
    round_attempts = models.PositiveIntegerField(_("本轮尝试次数"), default=0)
    lease_until = models.DateTimeField(_("推送占用至"), null=True, blank=True)
    next_attempt_at = models.DateTimeField(_("下次重试"), null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(_("最近响应码"), null=True, blank=True)
    last_response = models.TextField(_("最近响应"), blank=True)
    last_error = models.CharField(_("最近错误"), max_length=300, blank=True)
    payload_sha256 = models.CharField(_("内容摘要"), max_length=64, blank=True)
    count = models.PositiveIntegerField(_("名单人数"), default=0)
    delivered_at = models.DateTimeField(_("送达时间"), null=True, blank=True)
    downloaded_at = models.DateTimeField(_("下载时间"), null=True, blank=True)
    downloaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("下载人"), null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+")
    acknowledged_at = models.DateTimeField(_("签收时间"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("签收登记人"), null=True,
                                        blank=True, on_delete=models.SET_NULL, related_name="+")
    acknowledgement_note = models.CharField(_("签收说明"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "run__region"

    class Meta:
        verbose_name = _("预警推送")
        verbose_name_plural = _("预警推送")
        ordering = ["-run__month", "department"]
        constraints = [
            models.UniqueConstraint(fields=["run", "department"], name="ew_delivery_unique_run_department"),
        ]
        indexes = [models.Index(fields=["acknowledged_at", "status"])]

    def __str__(self) -> str:
        return f"{self.run} → {self.get_department_display()}"


class DeliveryAttempt(models.Model):
    """One HTTP attempt of a delivery (推送日志)."""

    delivery = models.ForeignKey(WarningDelivery, verbose_name=_("推送"), on_delete=models.CASCADE,
                                 related_name="attempt_log")
    number = models.PositiveIntegerField(_("第几次"))
    started_at = models.DateTimeField(_("开始时间"))
    duration_ms = models.PositiveIntegerField(_("耗时(毫秒)"), default=0)
    status_code = models.PositiveSmallIntegerField(_("响应码"), null=True, blank=True)
    response_body = models.TextField(_("响应内容"), blank=True)
    error = models.CharField(_("错误"), max_length=300, blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "delivery__run__region"

    class Meta:
        verbose_name = _("推送日志")
        verbose_name_plural = _("推送日志")
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="ew_attempt_unique_number"),
        ]


class WarningSchedule(models.Model):
    """When the monthly job runs (每月定期推送): a supervisor changes the day in the admin.

    Saving it through ``services.schedule_save`` rewrites the django-celery-beat
    ``PeriodicTask`` that beat reads.
    """

    day_of_month = models.PositiveSmallIntegerField(
        _("每月几号运行"), default=5, validators=[MinValueValidator(1), MaxValueValidator(28)],
        help_text=_("1–28 日;运行上一个自然月的名单。"))
    hour = models.PositiveSmallIntegerField(_("时"), default=2, validators=[MaxValueValidator(23)])
    minute = models.PositiveSmallIntegerField(_("分"), default=0, validators=[MaxValueValidator(59)])
    enabled = models.BooleanField(_("启用"), default=True)
    regions = models.ManyToManyField(Region, verbose_name=_("运行区划"), blank=True, related_name="+",
                                     help_text=_("留空表示辖区内每个市。"))
    periodic_task = models.OneToOneField("django_celery_beat.PeriodicTask", verbose_name=_("定时任务"), null=True,
                                         blank=True, on_delete=models.SET_NULL, related_name="+", editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("预警运行计划")
        verbose_name_plural = _("预警运行计划")

    def __str__(self) -> str:
        return str(_("每月%(day)s日 %(hour)02d:%(minute)02d") % {"day": self.day_of_month, "hour": self.hour,
                                                                 "minute": self.minute})
