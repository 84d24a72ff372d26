"""Medical-assistance eligibility review (医疗救助对象认定与申请, DOMAIN.md §6).

An :class:`Application` is one case: a determination of a category 3/4 object (对象认定), a
Shiyan tilt (倾斜救助) or a one-time retroactive assistance (一次性追溯救助).  Its status moves
only through ``services.application_*``; every move writes an :class:`ApplicationEvent`
(who, when, from, to, why).  Materials are files kept under ``MEDIA_ROOT`` and served only
through a scoped view.  A :class:`Payout` pays an approved retroactive or tilt amount once.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from members.models import Person
from yibao_site.models import CaseEventBase, CaseMaterialBase, CaseNoticeBase, Region

ZERO = Decimal("0.00")


class ApplicationKind(models.TextChoices):
    DETERMINATION = "determination", _("救助对象认定(三、四类)")
    TILT = "tilt", _("倾斜救助")
    RETROACTIVE = "retroactive", _("一次性追溯救助")


class ApplicationStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    SUBMITTED = "submitted", _("已受理")
    RETURNED = "returned", _("退回补正")
    RESUBMITTED = "resubmitted", _("补正后重新提交")
    VERIFIED = "verified", _("乡镇已核实")
    APPROVED = "approved", _("已批准")
    REJECTED = "rejected", _("不予批准")


OPEN_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.RESUBMITTED, ApplicationStatus.VERIFIED)
"""Statuses in which the bureau owes the applicant an answer (the deadline runs)."""
AWAITING_VERIFICATION = (ApplicationStatus.SUBMITTED, ApplicationStatus.RESUBMITTED)
CLOSED_STATUSES = (ApplicationStatus.APPROVED, ApplicationStatus.REJECTED)


class Channel(models.TextChoices):
    TOWNSHIP = "township", _("乡镇(街道)帮办代办")
    WINDOW = "window", _("窗口受理")


class DeterminationBasis(models.TextChoices):
    """What a determination application claims the person is (the identity it would confirm)."""

    MARGINAL = "marginal", _("低保边缘家庭成员")
    MONITORED = "monitored", _("防止返贫监测帮扶对象")
    ILLNESS_POVERTY = "illness_poverty", _("因病致贫重病患者")
    OTHER_SPECIAL = "other_special", _("其他特殊困难人员")


class MaterialType(models.TextChoices):
    APPLICATION_FORM = "application_form", _("救助申请书")
    ID_CARD = "id_card", _("身份证")
    HOUSEHOLD_REGISTER = "household_register", _("户口簿")
    MEDICAL_BILLS = "medical_bills", _("医疗费用票据及结算单")
    DIAGNOSIS = "diagnosis", _("诊断证明或出院小结")
    PROPERTY = "property", _("家庭财产状况核查材料")
    INCOME = "income", _("家庭收入证明")
    REFERRAL = "referral", _("转诊转院证明")
    DESIGNATION = "designation", _("县级以上政府认定文件")
    OTHER = "other", _("其他材料")


class Application(models.Model):
    """One assistance case (救助申请): filed, verified by the township, decided by the bureau."""

    person = models.ForeignKey(Person, verbose_name=_("申请人"), on_delete=models.PROTECT,
                               related_name="assistance_applications")
    # The person's township when the case was filed: scoping and every queue is one indexed
    # equality (the person's row may later move; the case stays with the township that holds it).
    township = models.ForeignKey(Region, verbose_name=_("乡镇(街道)"), on_delete=models.PROTECT,
                                 related_name="assistance_applications", editable=False)
    kind = models.CharField(_("申请类型"), max_length=16, choices=ApplicationKind.choices)
    basis = models.CharField(_("认定依据"), max_length=20, choices=DeterminationBasis.choices, blank=True,
                             help_text=_("对象认定申请:申请认定的身份。"))
    category = models.PositiveSmallIntegerField(_("救助类别"), null=True, blank=True)
    status = models.CharField(_("状态"), max_length=12, choices=ApplicationStatus.choices,
                              default=ApplicationStatus.DRAFT, editable=False)
    channel = models.CharField(_("受理渠道"), max_length=10, choices=Channel.choices, editable=False)
    note = models.TextField(_("申请说明"), blank=True)

    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("填报人"), on_delete=models.PROTECT,
                                 related_name="+", editable=False)
    filed_at = models.DateTimeField(_("填报时间"), auto_now_add=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("首问负责人"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="+", editable=False)
    submitted_at = models.DateTimeField(_("受理时间"), null=True, blank=True, editable=False)
    applied_on = models.DateField(_("申请日期"), null=True, blank=True, editable=False,
                                  help_text=_("首次受理的业务日期:因病致贫认定的回看期由此起算。"))
    deadline = models.DateField(_("办结时限"), null=True, blank=True, editable=False)
    overdue = models.BooleanField(_("已超期"), default=False, editable=False)

    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("核实人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)
    verified_at = models.DateTimeField(_("核实时间"), null=True, blank=True, editable=False)
    verification_note = models.TextField(_("核实意见"), blank=True, editable=False)
    # 家庭财产核查 (因病致贫): recorded at township verification, with its evidence.
    property_check_passed = models.BooleanField(_("家庭财产符合规定"), null=True, blank=True, editable=False)
    property_check_note = models.TextField(_("财产核查说明"), blank=True, editable=False)
    property_evidence = models.ForeignKey("Material", verbose_name=_("财产核查凭证"), null=True, blank=True,
                                          on_delete=models.PROTECT, related_name="+", editable=False)

    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("审核人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", editable=False)
    decided_at = models.DateTimeField(_("审核时间"), null=True, blank=True, editable=False)
    decision_reason = models.TextField(_("审核意见"), blank=True, editable=False)

    # Means test (因病致贫): computed at submission and again at approval; the figures are kept.
    means_oop = models.DecimalField(_("前12个月自负费用"), max_digits=14, decimal_places=2, null=True, blank=True,
                                    editable=False)
    means_threshold = models.DecimalField(_("认定标准"), max_digits=14, decimal_places=2, null=True, blank=True,
                                          editable=False)
    means_passed = models.BooleanField(_("达到因病致贫标准"), null=True, blank=True, editable=False)
    means_window_from = models.DateField(_("自负统计起"), null=True, blank=True, editable=False)
    means_window_to = models.DateField(_("自负统计止"), null=True, blank=True, editable=False)

    # Retroactive and tilt: the one-time amount computed on approval and paid once.
    basis_application = models.ForeignKey("self", verbose_name=_("所依据的认定申请"), null=True, blank=True,
                                          on_delete=models.PROTECT, related_name="follow_ups", editable=False)
    determined_on = models.DateField(_("身份确定日期"), null=True, blank=True, editable=False)
    amount = models.DecimalField(_("救助金额"), max_digits=14, decimal_places=2, null=True, blank=True,
                                 editable=False)
    calculation = models.JSONField(_("计算明细"), default=dict, blank=True, editable=False)

    valid_from = models.DateField(_("待遇有效期起"), null=True, blank=True, editable=False)
    valid_to = models.DateField(_("待遇有效期止"), null=True, blank=True, editable=False)
    policy_version = models.CharField(_("政策版本"), max_length=80, blank=True, editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "township"

    class Meta:
        verbose_name = _("救助申请")
        verbose_name_plural = _("救助申请")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["township", "status"]),
            models.Index(fields=["status", "deadline"]),
            models.Index(fields=["person", "kind", "status"]),
            models.Index(fields=["filed_by", "status"]),
            models.Index(fields=["kind", "decided_at"]),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(category__isnull=True) | Q(category__gte=1, category__lte=4),
                                   name="application_category_range"),
            models.CheckConstraint(condition=~Q(kind="determination") | ~Q(basis=""),
                                   name="application_determination_has_basis"),
            # 一次性: one live retroactive case per person and determination date.
            models.UniqueConstraint(fields=["person", "determined_on"],
                                    condition=Q(kind="retroactive") & ~Q(status="rejected"),
                                    name="application_one_retroactive_per_determination"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} {self.person}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ApplicationEvent(CaseEventBase):
    """One transition of an application: who, when, from, to, why (审核留痕)."""

    class Action(models.TextChoices):
        CREATE = "create", _("填报")
        SUBMIT = "submit", _("受理")
        VERIFY = "verify", _("乡镇核实")
        APPROVE = "approve", _("批准")
        REJECT = "reject", _("不予批准")
        RETURN = "return", _("退回补正")
        RESUBMIT = "resubmit", _("补正后重新提交")
        MATERIAL = "material", _("上传材料")
        PAYOUT = "payout", _("支付")
        OVERDUE = "overdue", _("超期")

    application = models.ForeignKey(Application, verbose_name=_("申请"), on_delete=models.CASCADE,
                                    related_name="events")
    action = models.CharField(_("操作"), max_length=12, choices=Action.choices)
    from_status = models.CharField(_("原状态"), max_length=12, choices=ApplicationStatus.choices, blank=True)
    to_status = models.CharField(_("新状态"), max_length=12, choices=ApplicationStatus.choices, blank=True)

    SCOPE_TOWNSHIP = "application__township"

    class Meta(CaseEventBase.Meta):
        verbose_name = _("办理记录")
        verbose_name_plural = _("办理记录")
        indexes = [models.Index(fields=["application", "at"])]


def material_upload_to(instance: "Material", filename: str) -> str:
    # The stored name never reuses the uploaded one (no path tricks, no personal data in paths).
    return f"assistance/{instance.application_id}/{instance.sha256[:16]}{instance.extension}"


class Material(CaseMaterialBase):
    """A supporting document (申请材料): an image or PDF, its type sniffed from its bytes."""

    application = models.ForeignKey(Application, verbose_name=_("申请"), on_delete=models.PROTECT,
                                    related_name="materials")
    material_type = models.CharField(_("材料类型"), max_length=20, choices=MaterialType.choices)
    file = models.FileField(_("文件"), upload_to=material_upload_to, max_length=200)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "application__township"

    class Meta(CaseMaterialBase.Meta):
        verbose_name = _("申请材料")
        verbose_name_plural = _("申请材料")
        indexes = [models.Index(fields=["application", "material_type"])]


class SupplementNotice(CaseNoticeBase):
    """一次性告知: the complete list of missing materials given to the applicant at once."""

    MATERIAL_TYPES = MaterialType

    application = models.ForeignKey(Application, verbose_name=_("申请"), on_delete=models.PROTECT,
                                    related_name="notices")

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "application__township"

    class Meta(CaseNoticeBase.Meta):
        verbose_name = _("一次性告知书")
        verbose_name_plural = _("一次性告知书")


class Payout(models.Model):
    """The payment of an approved retroactive or tilt amount (救助金支付), made once by finance."""

    application = models.OneToOneField(Application, verbose_name=_("申请"), on_delete=models.PROTECT,
                                       related_name="payout")
    amount = models.DecimalField(_("支付金额"), max_digits=14, decimal_places=2)
    reference = models.CharField(_("支付凭证号"), max_length=60, blank=True)
    paid_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("支付人"), on_delete=models.PROTECT,
                                related_name="+")
    paid_at = models.DateTimeField(_("支付时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "application__township"

    class Meta:
        verbose_name = _("救助金支付")
        verbose_name_plural = _("救助金支付")
        ordering = ["-paid_at"]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payout_amount_positive")]

    def __str__(self) -> str:
        return f"{self.application_id}: {self.amount}"


class Holiday(models.Model):
    """The working-day calendar (节假日安排): holidays, and weekend days worked instead (调休)."""

    date = models.DateField(_("日期"), unique=True)
    name = models.CharField(_("名称"), max_length=40)
    is_workday = models.BooleanField(_("调休上班"), default=False,
                                     help_text=_("勾选表示该日虽为周末但上班;不勾选表示该日放假。"))

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("节假日")
        verbose_name_plural = _("节假日")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class AssistanceObject(Person):
    """Persons seen as assistance objects (救助对象): the admin's view of categories and validity."""

    SCOPE_TOWNSHIP = "township"

    class Meta:
        proxy = True
        verbose_name = _("救助对象")
        verbose_name_plural = _("救助对象")


class PayoutLineState(models.TextChoices):
    HELD = "held", _("暂缓(收款账户无效)")
    INSTRUCTED = "instructed", _("已发银行指令")
    CONFIRMED = "confirmed", _("银行已支付")
    FAILED = "failed", _("银行退回")
    RELEASED = "released", _("已更正,重回待支付队列")


#: States in which a line holds its ledger entry (the entry can be in no other such line).
LIVE_LINE_STATES = (PayoutLineState.INSTRUCTED, PayoutLineState.CONFIRMED, PayoutLineState.FAILED)


class PayoutBatch(models.Model):
    """An assistance payout batch of a region (救助金代发批次, ``assistance.bank_payouts``): the
    ledger entries owed to persons (``claims.LedgerEntry`` with cash status to_pay: retroactive
    assistance, tilt catch-ups, 补付) paid through the bank as one instruction per person.

    Persons without a payable account are held (listed with the reason, not sent); their
    entries stay in the queue for the next batch.
    """

    region = models.ForeignKey(Region, verbose_name=_("区划"), on_delete=models.PROTECT, related_name="+")
    on = models.DateField(_("批次日期"))
    instruction_batch = models.OneToOneField("payments.InstructionBatch", verbose_name=_("支付指令批次"), null=True,
                                             blank=True, on_delete=models.PROTECT, related_name="assistance_payout",
                                             editable=False)
    count = models.PositiveIntegerField(_("指令笔数"), default=0, editable=False)
    total_amount = models.DecimalField(_("指令总额(元)"), max_digits=14, decimal_places=2, default=ZERO, editable=False)
    held_count = models.PositiveIntegerField(_("暂缓人数"), default=0, editable=False)
    held_amount = models.DecimalField(_("暂缓金额(元)"), max_digits=14, decimal_places=2, default=ZERO, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("制单人"), on_delete=models.PROTECT,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(_("生成时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("救助金代发批次")
        verbose_name_plural = _("救助金代发批次")
        ordering = ["-on", "-id"]

    def __str__(self) -> str:
        return f"{self.region.name} {self.on} #{self.pk}"


class PayoutLine(models.Model):
    """One ledger entry in a payout batch: instructed (in the person's instruction) or held."""

    batch = models.ForeignKey(PayoutBatch, verbose_name=_("代发批次"), on_delete=models.PROTECT, related_name="lines")
    entry = models.ForeignKey("claims.LedgerEntry", verbose_name=_("台账分录"), on_delete=models.PROTECT,
                              related_name="payout_lines")
    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="+")
    amount = models.DecimalField(_("金额(元)"), max_digits=14, decimal_places=2)
    state = models.CharField(_("状态"), max_length=12, choices=PayoutLineState.choices)
    instruction = models.ForeignKey("payments.Instruction", verbose_name=_("支付指令"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    hold_reason = models.CharField(_("暂缓原因"), max_length=200, blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("救助金代发明细")
        verbose_name_plural = _("救助金代发明细")
        ordering = ["batch", "person_id", "entry_id"]
        constraints = [
            # An entry is instructed at most once at a time: a failed line must be released (after a
            # reviewed correction of the payee's account) before another batch may take the entry.
            models.UniqueConstraint(fields=["entry"], condition=Q(state__in=["instructed", "confirmed", "failed"]),
                                    name="payout_line_one_live"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payout_line_amount_positive"),
            models.CheckConstraint(condition=Q(state="held") | Q(instruction__isnull=False),
                                   name="payout_line_instructed_has_instruction"),
        ]
        indexes = [models.Index(fields=["state", "batch"])]

    def __str__(self) -> str:
        return f"{self.batch_id}/{self.entry_id}: {self.get_state_display()}"
