"""Money leaves through a bank (经医疗保险基金支出户拨付, seed 004 §2): payment instructions,
bank files, bank results, payee corrections and the graded sign-off of a batch.

The kernel of the fund's payments, used by procurement (supplier payment runs) and assistance
(payout batches) through :mod:`payments.services`; it imports neither of them.  What a
confirmation or a failure means for the source (a delivery paid, a payout confirmed) is the
source's business: it registers a handler per purpose (:mod:`payments.registry`).

Never instructing a line twice rests on the database: an instruction's ``(purpose,
source_ref)`` is unique (one instruction per payee per source run, however often the run or its
file is produced again), its ``number`` is unique and stored when it is created (the bank's
idempotency key, so a file produced twice carries the same numbers), and the sources keep one
live line per item (a failed line is released before a new one can be written).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from yibao_site.models import Region

MONEY = {"max_digits": 14, "decimal_places": 2}


class Purpose(models.TextChoices):
    SUPPLIER = "supplier", _("集采货款直接结算")
    ASSISTANCE = "assistance", _("医疗救助金")


class BatchStatus(models.TextChoices):
    CREATED = "created", _("待财务制单")
    AWAITING_APPROVAL = "awaiting_approval", _("待主管审批")
    READY = "ready", _("可生成银行文件")
    SENT = "sent", _("已发送银行")


class InstructionBatch(models.Model):
    """The instructions of one source run (一次支付批次的支付指令):
    a supplier payment run or an assistance payout batch.

    Graded sign-off (分级审批): a batch whose total exceeds ``payments.signoff_threshold``
    needs a supervisor's approval after finance prepares it, never by the same person, before
    its bank file can be produced.
    """

    purpose = models.CharField(_("用途"), max_length=12, choices=Purpose.choices)
    source_ref = models.CharField(_("来源批次"), max_length=60)
    title = models.CharField(_("名称"), max_length=120)
    region = models.ForeignKey(Region, verbose_name=_("适用政策的区划"), on_delete=models.PROTECT,
                               related_name="+")
    on = models.DateField(_("批次日期"))
    status = models.CharField(_("状态"), max_length=20, choices=BatchStatus.choices, default=BatchStatus.CREATED,
                              editable=False)
    count = models.PositiveIntegerField(_("指令笔数"), default=0, editable=False)
    total_amount = models.DecimalField(_("指令总额(元)"), default=0, editable=False, **MONEY)
    signoff_threshold = models.DecimalField(_("分级审批金额(元)"), null=True, blank=True, editable=False, **MONEY)
    signoff_required = models.BooleanField(_("需主管审批"), default=False, editable=False)
    policy_version = models.CharField(_("政策版本"), max_length=80, blank=True, editable=False)
    policy_used = models.JSONField(_("所用政策参数"), default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("制单人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)
    prepared_at = models.DateTimeField(_("制单时间"), null=True, blank=True, editable=False)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("审批人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)
    approved_at = models.DateTimeField(_("审批时间"), null=True, blank=True, editable=False)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发送人"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+", editable=False)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True, editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("支付指令批次")
        verbose_name_plural = _("支付指令批次")
        ordering = ["-on", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "source_ref"], name="pay_batch_source_unique"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("prepared_by")),
                name="pay_batch_maker_checker"),
        ]

    def __str__(self) -> str:
        return self.title


class InstructionStatus(models.TextChoices):
    PENDING = "pending", _("待银行确认")
    CONFIRMED = "confirmed", _("银行已支付")
    FAILED = "failed", _("银行退回")


class PayeeKind(models.TextChoices):
    SUPPLIER = "supplier", _("供应企业对公账户")
    SELF = "self", _("本人社会保障卡银行账户")
    RELATIVE = "relative", _("近亲属银行账户")


class Instruction(models.Model):
    """One payment instruction (支付指令): one payee of one source run, one amount.

    ``number`` is the bank's idempotency key (指令编号): assigned once when the instruction is
    created, so a bank file produced again carries the same numbers and a bank that receives a
    file twice pays each instruction once.
    """

    batch = models.ForeignKey(InstructionBatch, verbose_name=_("指令批次"), on_delete=models.PROTECT,
                              related_name="instructions")
    purpose = models.CharField(_("用途"), max_length=12, choices=Purpose.choices, editable=False)
    source_ref = models.CharField(_("来源单据"), max_length=60, editable=False)
    number = models.CharField(_("指令编号"), max_length=40, unique=True, editable=False)
    payee_kind = models.CharField(_("收款账户类型"), max_length=10, choices=PayeeKind.choices, editable=False)
    payee_code = models.CharField(_("收款方编码"), max_length=40, editable=False,
                                  help_text=_("企业编码或公民身份号码"))
    payee_name = models.CharField(_("收款方"), max_length=200, editable=False)
    account_name = models.CharField(_("户名"), max_length=200, editable=False)
    bank_name = models.CharField(_("开户银行"), max_length=100, editable=False)
    account_number = models.CharField(_("银行账号"), max_length=40, editable=False)
    evidence = models.CharField(_("账户依据"), max_length=200, blank=True, editable=False)
    amount = models.DecimalField(_("金额(元)"), editable=False, **MONEY)
    memo = models.CharField(_("附言"), max_length=100, blank=True, editable=False)
    status = models.CharField(_("状态"), max_length=10, choices=InstructionStatus.choices,
                              default=InstructionStatus.PENDING, editable=False)
    bank_reference = models.CharField(_("银行流水号"), max_length=60, blank=True, editable=False)
    result_on = models.DateField(_("银行处理日期"), null=True, blank=True, editable=False)
    failure_reason = models.CharField(_("退回原因"), max_length=200, blank=True, editable=False)
    result_at = models.DateTimeField(_("结果登记时间"), null=True, blank=True, editable=False)
    escalated_on = models.DateField(_("超期升级日期"), null=True, blank=True, editable=False)
    released_at = models.DateTimeField(_("重新排队时间"), null=True, blank=True, editable=False,
                                       help_text=_("退回后收款信息经复核更正、明细重回待支付队列的时间"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("支付指令")
        verbose_name_plural = _("支付指令")
        ordering = ["batch", "number"]
        constraints = [
            models.UniqueConstraint(fields=["purpose", "source_ref"], name="pay_instruction_source_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="pay_instruction_amount_positive"),
            models.CheckConstraint(
                condition=~Q(status="confirmed") | (Q(result_on__isnull=False) & ~Q(bank_reference="")),
                name="pay_instruction_confirmed_has_reference"),
            models.CheckConstraint(
                condition=~Q(status="failed") | (Q(result_on__isnull=False) & ~Q(failure_reason="")),
                name="pay_instruction_failed_has_reason"),
        ]
        indexes = [
            models.Index(fields=["status", "batch"], name="pay_instruction_status"),
            models.Index(fields=["result_on"], name="pay_instruction_result_on"),
        ]

    def __str__(self) -> str:
        return self.number


class FileFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "XLSX"


class BankFileLayout(models.Model):
    """A bank's column layout for instruction files (银行代发文件格式): banks differ.

    ``columns`` is a list of ``{"header": "收款账号", "field": "account_number"}``; the fields a
    layout may use are :data:`payments.rules.FILE_FIELDS`.
    """

    code = models.CharField(_("格式编码"), max_length=40, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    file_format = models.CharField(_("文件类型"), max_length=4, choices=FileFormat.choices, default=FileFormat.CSV)
    encoding = models.CharField(_("CSV 编码"), max_length=12, default="utf-8-sig",
                                choices=[("utf-8-sig", "UTF-8"), ("gb18030", "GB18030")])
    columns = models.JSONField(_("列定义"), default=list)
    is_default = models.BooleanField(_("默认格式"), default=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("银行文件格式")
        verbose_name_plural = _("银行文件格式")
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="pay_layout_one_default"),
        ]

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class BankFile(models.Model):
    """An instruction file produced for a batch (银行代发文件), and when it was sent."""

    batch = models.ForeignKey(InstructionBatch, verbose_name=_("指令批次"), on_delete=models.PROTECT,
                              related_name="files")
    layout = models.ForeignKey(BankFileLayout, verbose_name=_("文件格式"), on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(_("文件名"), max_length=120)
    content = models.BinaryField(_("文件内容"), editable=False)
    sha256 = models.CharField(_("SHA-256"), max_length=64, editable=False)
    count = models.PositiveIntegerField(_("笔数"), editable=False)
    total_amount = models.DecimalField(_("总额(元)"), editable=False, **MONEY)
    produced_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("生成人"), on_delete=models.PROTECT,
                                    related_name="+", editable=False)
    produced_at = models.DateTimeField(_("生成时间"), auto_now_add=True)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发送人"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+", editable=False)
    sent_at = models.DateTimeField(_("发送时间"), null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=["content"])

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("银行文件")
        verbose_name_plural = _("银行文件")
        ordering = ["-produced_at", "-id"]

    def __str__(self) -> str:
        return self.filename


class ResultOutcome(models.TextChoices):
    PAID = "paid", _("支付成功")
    FAILED = "failed", _("支付失败")


class ResultChannel(models.TextChoices):
    FILE = "file", _("银行回盘文件")
    API = "api", _("银行接口回调")


class BankResult(models.Model):
    """What the bank said about one instruction (银行回盘), as received: append-only."""

    instruction = models.ForeignKey(Instruction, verbose_name=_("支付指令"), on_delete=models.PROTECT,
                                    related_name="results")
    outcome = models.CharField(_("结果"), max_length=8, choices=ResultOutcome.choices)
    bank_reference = models.CharField(_("银行流水号"), max_length=60, blank=True)
    result_on = models.DateField(_("银行处理日期"))
    reason = models.CharField(_("失败原因"), max_length=200, blank=True)
    channel = models.CharField(_("来源"), max_length=4, choices=ResultChannel.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("银行回盘")
        verbose_name_plural = _("银行回盘")
        ordering = ["-recorded_at", "-id"]
        constraints = [
            # One result per instruction: a bank settles an instruction once (成功或退回).
            models.UniqueConstraint(fields=["instruction"], name="pay_result_once"),
        ]

    def __str__(self) -> str:
        return f"{self.instruction.number}: {self.get_outcome_display()}"


class CorrectionStatus(models.TextChoices):
    SUBMITTED = "submitted", _("待复核")
    APPROVED = "approved", _("已复核通过")
    REJECTED = "rejected", _("已驳回")


class PayeeCorrection(models.Model):
    """A reviewed correction of a failed instruction's payee details (收款信息更正).

    Finance records the corrected account with its evidence; another person reviews it.  Once
    approved, the source updates its payee (the supplier's account, the person's bank account)
    and the failed lines return to the queue of the next run.
    """

    instruction = models.ForeignKey(Instruction, verbose_name=_("退回的支付指令"), on_delete=models.PROTECT,
                                    related_name="corrections")
    account_name = models.CharField(_("户名"), max_length=200)
    bank_name = models.CharField(_("开户银行"), max_length=100)
    account_number = models.CharField(_("银行账号"), max_length=40)
    payee_kind = models.CharField(_("收款账户类型"), max_length=10, choices=PayeeKind.choices)
    evidence = models.CharField(_("更正依据"), max_length=200)
    status = models.CharField(_("状态"), max_length=10, choices=CorrectionStatus.choices,
                              default=CorrectionStatus.SUBMITTED, editable=False)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("提交人"), on_delete=models.PROTECT,
                                     related_name="+", editable=False)
    submitted_at = models.DateTimeField(_("提交时间"), auto_now_add=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("复核人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)
    reviewed_at = models.DateTimeField(_("复核时间"), null=True, blank=True, editable=False)
    review_note = models.CharField(_("复核意见"), max_length=200, blank=True, editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("收款信息更正")
        verbose_name_plural = _("收款信息更正")
        ordering = ["-submitted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["instruction"], condition=~Q(status="rejected"),
                                    name="pay_correction_one_live"),
            models.CheckConstraint(condition=Q(reviewed_by__isnull=True) | ~Q(reviewed_by=models.F("submitted_by")),
                                   name="pay_correction_maker_checker"),
        ]

    def __str__(self) -> str:
        return f"{self.instruction.number} → {self.account_number}"


def account_evidence_upload_to(instance: "PersonBankAccount", filename: str) -> str:
    # Never the uploaded name (no path tricks, no personal data in paths).
    ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else "bin"
    return f"payee-accounts/{instance.person_id}/{instance.evidence_sha256[:16]}.{ext}"


class PayeeRelation(models.TextChoices):
    """A relative's relation to the person (近亲属关系): the codes of ``members.models.Relation``
    (payments sits below members and cannot import it; a test keeps the two equal)."""

    SPOUSE = "spouse", _("配偶")
    PARENT = "parent", _("父母")
    CHILD = "child", _("子女")
    SIBLING = "sibling", _("兄弟姐妹")
    GRANDPARENT = "grandparent", _("祖父母、外祖父母")
    GRANDCHILD = "grandchild", _("孙子女、外孙子女")


class PersonBankAccount(models.Model):
    """The bank account a person's assistance is paid to (救助金收款账户): their social-security
    card's bank account, or a close relative's, recorded with its evidence."""

    person = models.OneToOneField("members.Person", verbose_name=_("参保人员"), on_delete=models.PROTECT,
                                  related_name="bank_account")
    payee_kind = models.CharField(_("收款账户类型"), max_length=10,
                                  choices=[(PayeeKind.SELF, PayeeKind.SELF.label),
                                           (PayeeKind.RELATIVE, PayeeKind.RELATIVE.label)])
    account_name = models.CharField(_("户名"), max_length=200)
    bank_name = models.CharField(_("开户银行"), max_length=100)
    account_number = models.CharField(_("银行账号"), max_length=40)
    evidence = models.CharField(_("账户依据"), max_length=200, blank=True,
                                help_text=_("近亲属账户须注明关系与证明材料"))
    # A relative's account (近亲属代收): the relation and the uploaded proof (关系证明、委托书),
    # its type sniffed from its bytes (yibao_site.uploads).  Without both it is not payable.
    relation = models.CharField(_("与本人关系"), max_length=12, choices=PayeeRelation.choices, blank=True)
    evidence_file = models.FileField(_("证明材料"), upload_to=account_evidence_upload_to, max_length=200, blank=True)
    evidence_name = models.CharField(_("材料原文件名"), max_length=200, blank=True, editable=False)
    evidence_sha256 = models.CharField(_("材料 SHA-256"), max_length=64, blank=True, editable=False)
    # A transfer the bank returned suspends the account until a reviewed correction (收款信息更正).
    suspended_at = models.DateTimeField(_("暂停支付时间"), null=True, blank=True, editable=False)
    suspended_reason = models.CharField(_("暂停原因"), max_length=200, blank=True, editable=False)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("救助金收款账户")
        verbose_name_plural = _("救助金收款账户")
        ordering = ["person"]
        constraints = [
            models.CheckConstraint(condition=~Q(payee_kind="relative") | ~Q(evidence=""),
                                   name="pay_person_account_relative_evidence"),
        ]

    def __str__(self) -> str:
        return f"{self.account_name} {self.account_number}"
