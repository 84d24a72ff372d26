"""Volume-based procurement and direct supplier settlement (集采与直接结算, DOMAIN.md §8).

Master data: procurement batches, suppliers, products (with the selected unit price),
designated hospitals and their agreed yearly volumes.  Flow: order → delivery → acceptance by
the hospital (date, quantity, partial acceptance) → reconciliation of the invoice against
accepted quantity × selected price → the daily payment run pays the supplier directly and
records the deduction from the hospital's fund settlement.

Never paying a supplier twice for one delivery rests on the database, not on the code path:
a delivery has at most one live ``PaymentLine`` (unique unless the bank returned it), and the
run instructs a delivery and marks it instructed in the same transaction (see
``services.payment_run_execute``).  The delivery is paid when the bank confirms its
instruction (``payments``), on the bank's date: the 30-day promise is about money received.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from yibao_site.models import Region

MONEY = {"max_digits": 14, "decimal_places": 2}


class BatchLevel(models.TextChoices):
    NATIONAL = "national", _("国家集采")
    PROVINCIAL = "provincial", _("省级集采")
    INTER_PROVINCIAL = "inter_provincial", _("省际联盟集采")


class ProductKind(models.TextChoices):
    DRUG = "drug", _("药品")
    CONSUMABLE = "consumable", _("医用耗材")


class HospitalLevel(models.IntegerChoices):
    LEVEL_1 = 1, _("一级(含乡镇卫生院、村卫生室)")
    LEVEL_2 = 2, _("二级")
    LEVEL_3 = 3, _("三级")


class ProcurementBatch(models.Model):
    """A volume-based procurement batch (集采批次): national, provincial or inter-provincial."""

    code = models.CharField(_("批次编码"), max_length=40, unique=True)
    name = models.CharField(_("批次名称"), max_length=200)
    level = models.CharField(_("集采层级"), max_length=20, choices=BatchLevel.choices)
    starts_on = models.DateField(_("执行开始日期"), null=True, blank=True)
    ends_on = models.DateField(_("执行结束日期"), null=True, blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("集采批次")
        verbose_name_plural = _("集采批次")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class Supplier(models.Model):
    """A pharmaceutical or consumables company paid directly by the fund (医药企业)."""

    code = models.CharField(_("企业编码"), max_length=40, unique=True)
    name = models.CharField(_("企业名称"), max_length=200, db_index=True)
    credit_code = models.CharField(_("统一社会信用代码"), max_length=18, blank=True)
    bank_name = models.CharField(_("开户银行"), max_length=100, blank=True)
    bank_account = models.CharField(_("银行账号"), max_length=40, blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("供应企业")
        verbose_name_plural = _("供应企业")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class Product(models.Model):
    """A selected drug or consumable with its selected unit price (中选价格)."""

    code = models.CharField(_("产品编码"), max_length=40, unique=True)
    name = models.CharField(_("产品名称"), max_length=200, db_index=True)
    kind = models.CharField(_("类别"), max_length=12, choices=ProductKind.choices)
    specification = models.CharField(_("规格"), max_length=100, blank=True)
    unit = models.CharField(_("计量单位"), max_length=20, blank=True)
    unit_price = models.DecimalField(_("中选单价(元)"), **MONEY)
    batch = models.ForeignKey(ProcurementBatch, verbose_name=_("集采批次"), null=True, blank=True,
                              on_delete=models.PROTECT, related_name="products")
    supplier = models.ForeignKey(Supplier, verbose_name=_("中选企业"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="products",
                                 help_text=_("填写后,该产品的配送只能由该企业发起。"))

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("集采产品")
        verbose_name_plural = _("集采产品")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(unit_price__gt=0), name="proc_product_price_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class Hospital(models.Model):
    """A designated medical institution (定点医疗机构) in a township."""

    code = models.CharField(_("机构编码"), max_length=40, unique=True)
    name = models.CharField(_("机构名称"), max_length=200, db_index=True)
    level = models.PositiveSmallIntegerField(_("医院等级"), choices=HospitalLevel.choices)
    township = models.ForeignKey(Region, verbose_name=_("所在乡镇(街道)"), on_delete=models.PROTECT,
                                 related_name="hospitals")

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "township"

    class Meta:
        verbose_name = _("定点医疗机构")
        verbose_name_plural = _("定点医疗机构")
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.name}({self.code})"


class AgreedVolume(models.Model):
    """The yearly volume a hospital commits to for a selected product (约定采购量)."""

    hospital = models.ForeignKey(Hospital, verbose_name=_("医疗机构"), on_delete=models.PROTECT,
                                 related_name="agreed_volumes")
    product = models.ForeignKey(Product, verbose_name=_("产品"), on_delete=models.PROTECT,
                                related_name="agreed_volumes")
    year = models.PositiveSmallIntegerField(_("年度"))
    quantity = models.PositiveIntegerField(_("约定采购量"))

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "hospital__township"

    class Meta:
        verbose_name = _("约定采购量")
        verbose_name_plural = _("约定采购量")
        ordering = ["year", "hospital__code", "product__code"]
        constraints = [
            models.UniqueConstraint(fields=["hospital", "product", "year"], name="proc_agreed_volume_unique"),
            models.CheckConstraint(condition=Q(quantity__gt=0), name="proc_agreed_volume_positive"),
        ]
        indexes = [models.Index(fields=["year", "product"])]

    def __str__(self) -> str:
        return f"{self.hospital.code}/{self.product.code}/{self.year}: {self.quantity}"


class Order(models.Model):
    """A purchase order from a hospital to a supplier (采购订单)."""

    hospital = models.ForeignKey(Hospital, verbose_name=_("医疗机构"), on_delete=models.PROTECT,
                                 related_name="orders")
    supplier = models.ForeignKey(Supplier, verbose_name=_("供应企业"), on_delete=models.PROTECT,
                                 related_name="orders")
    product = models.ForeignKey(Product, verbose_name=_("产品"), on_delete=models.PROTECT, related_name="orders")
    quantity = models.PositiveIntegerField(_("订购数量"))
    ordered_on = models.DateField(_("下单日期"))
    number = models.CharField(_("订单号"), max_length=40, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "hospital__township"

    class Meta:
        verbose_name = _("采购订单")
        verbose_name_plural = _("采购订单")
        ordering = ["-ordered_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="proc_order_quantity_positive"),
        ]
        indexes = [models.Index(fields=["hospital", "ordered_on"])]

    def __str__(self) -> str:
        return self.number or f"#{self.pk}"


class DeliveryStatus(models.TextChoices):
    DELIVERED = "delivered", _("待验收")
    ACCEPTED = "accepted", _("已验收待支付")
    HELD = "held", _("对账不符挂起")
    INSTRUCTED = "instructed", _("已发支付指令待银行确认")
    RETURNED = "returned", _("银行退回待更正收款信息")
    PAID = "paid", _("已支付")
    REJECTED = "rejected", _("全部拒收")


class DeliveryAlert(models.TextChoices):
    NONE = "", _("正常")
    DUE_SOON = "due_soon", _("临期")
    OVERDUE = "overdue", _("逾期")


class Delivery(models.Model):
    """A delivery of a product to a hospital (配送), its acceptance (验收) and reconciliation.

    ``amount`` is the supplier's invoice amount.  On acceptance the accepted value is
    ``accepted_quantity × unit_price`` (the selected price, copied at delivery time so a later
    price change never alters what is owed); an invoice that differs from it by more than the
    tolerance (policy ``procurement.reconcile_tolerance``) is held for finance.
    """

    # Their own indexes would duplicate the composite ones below (same leading column).
    hospital = models.ForeignKey(Hospital, verbose_name=_("医疗机构"), on_delete=models.PROTECT,
                                 related_name="deliveries", db_index=False)
    supplier = models.ForeignKey(Supplier, verbose_name=_("供应企业"), on_delete=models.PROTECT,
                                 related_name="deliveries", db_index=False)
    product = models.ForeignKey(Product, verbose_name=_("产品"), on_delete=models.PROTECT,
                                related_name="deliveries")
    # Indexed where set only (``proc_delivery_order``): most deliveries come without an order.
    order = models.ForeignKey(Order, verbose_name=_("采购订单"), null=True, blank=True, on_delete=models.PROTECT,
                              related_name="deliveries", db_index=False)
    quantity = models.PositiveIntegerField(_("配送数量"))
    unit_price = models.DecimalField(_("中选单价(元)"), editable=False, **MONEY)
    amount = models.DecimalField(_("发票金额(元)"), **MONEY)
    invoice_number = models.CharField(_("发票号"), max_length=40, blank=True)
    delivered_on = models.DateField(_("配送日期"))
    status = models.CharField(_("状态"), max_length=12, choices=DeliveryStatus.choices,
                              default=DeliveryStatus.DELIVERED, editable=False)
    accepted_on = models.DateField(_("验收日期"), null=True, blank=True, editable=False)
    accepted_quantity = models.PositiveIntegerField(_("验收数量"), null=True, blank=True, editable=False)
    accepted_amount = models.DecimalField(_("验收金额(元)"), null=True, blank=True, editable=False, **MONEY)
    mismatch = models.DecimalField(_("对账差额(元)"), null=True, blank=True, editable=False, **MONEY,
                                   help_text=_("发票金额 − 验收金额"))
    due_on = models.DateField(_("付款期限"), null=True, blank=True, editable=False)
    policy_version = models.CharField(_("政策版本"), max_length=80, blank=True, editable=False)
    policy_used = models.JSONField(_("所用政策参数"), default=dict, blank=True, editable=False)
    alert = models.CharField(_("预警"), max_length=10, choices=DeliveryAlert.choices, default=DeliveryAlert.NONE,
                             blank=True, editable=False)
    escalated_on = models.DateField(_("逾期升级日期"), null=True, blank=True, editable=False)
    paid_on = models.DateField(_("支付日期"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    # History rows are read per delivery (by id) and by date (the audit log); the payment run
    # writes one per delivery it pays, so no index on the copied foreign keys.
    history = HistoricalRecords(no_db_index=["hospital", "supplier", "product", "order"])

    SCOPE_TOWNSHIP = "hospital__township"

    class Meta:
        verbose_name = _("配送与验收")
        verbose_name_plural = _("配送与验收")
        ordering = ["-delivered_on", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(quantity__gt=0), name="proc_delivery_quantity_positive"),
            # An invoice is registered once: what makes re-importing a platform export idempotent.
            models.UniqueConstraint(fields=["supplier", "invoice_number"], condition=~Q(invoice_number=""),
                                    name="proc_delivery_invoice_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="proc_delivery_amount_nonnegative"),
            models.CheckConstraint(
                condition=Q(accepted_quantity__isnull=True) | Q(accepted_quantity__lte=models.F("quantity")),
                name="proc_delivery_accepted_le_delivered"),
            models.CheckConstraint(
                condition=~Q(status__in=["accepted", "held", "instructed", "returned", "paid"])
                | Q(accepted_on__isnull=False, due_on__isnull=False),
                name="proc_delivery_accepted_has_dates"),
        ]
        indexes = [
            # Partial indexes: paid deliveries (nearly all of them, over time) leave these, so
            # marking 100 000 deliveries paid does not rewrite them and they stay small.
            # The payment run's scan: payable deliveries in id order.
            models.Index(fields=["id"], condition=Q(status="accepted"), name="proc_delivery_payable"),
            # Due-soon / overdue flagging and lists of unpaid deliveries.
            models.Index(fields=["due_on"], condition=Q(status__in=["accepted", "held", "instructed", "returned"]),
                         name="proc_delivery_unpaid"),
            models.Index(fields=["alert", "due_on"], condition=~Q(alert=""), name="proc_delivery_alert"),
            # List filters (admin and API): status, supplier, hospital/product, by date.
            models.Index(fields=["status", "delivered_on"], name="proc_delivery_status"),
            models.Index(fields=["supplier", "delivered_on"], name="proc_delivery_supplier"),
            models.Index(fields=["hospital", "product", "accepted_on"], name="proc_delivery_hospital"),
            models.Index(fields=["order"], condition=Q(order__isnull=False), name="proc_delivery_order"),
        ]

    def __str__(self) -> str:
        return f"{self.supplier.code}→{self.hospital.code} {self.product.code} ×{self.quantity} ({self.delivered_on})"

    @property
    def payment_line(self) -> "PaymentLine | None":
        """The live (instructed or confirmed) payment line; prefetch ``payment_lines`` in lists."""
        return next((line for line in self.payment_lines.all() if line.state != "failed"), None)


class RunStatus(models.TextChoices):
    RUNNING = "running", _("执行中")
    FAILED = "failed", _("中断待重跑")
    COMPLETED = "completed", _("已完成")


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", _("定时任务")
    API = "api", _("接口")
    COMMAND = "command", _("管理命令")
    ADMIN = "admin", _("后台")


class PaymentRun(models.Model):
    """One daily supplier payment run (供应商直接结算批次) for a date; at most one per date."""

    as_of = models.DateField(_("结算日期"), unique=True)
    status = models.CharField(_("状态"), max_length=10, choices=RunStatus.choices, default=RunStatus.RUNNING,
                              editable=False)
    trigger = models.CharField(_("发起方式"), max_length=10, choices=RunTrigger.choices, editable=False)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发起人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+", editable=False)
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("执行次数"), default=0, editable=False)
    last_error = models.TextField(_("最近错误"), blank=True, editable=False)
    count = models.PositiveIntegerField(_("支付笔数"), default=0, editable=False)
    total_amount = models.DecimalField(_("支付总额(元)"), default=0, editable=False, **MONEY)
    due_soon_count = models.PositiveIntegerField(_("临期笔数"), default=0, editable=False)
    overdue_count = models.PositiveIntegerField(_("逾期笔数"), default=0, editable=False)
    held_count = models.PositiveIntegerField(_("对账挂起笔数"), default=0, editable=False)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("复核人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+", editable=False)
    reviewed_at = models.DateTimeField(_("复核时间"), null=True, blank=True, editable=False)
    review_note = models.TextField(_("复核意见"), blank=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("支付批次")
        verbose_name_plural = _("支付批次")
        ordering = ["-as_of"]
        indexes = [models.Index(fields=["status", "reviewed_at"])]

    def __str__(self) -> str:
        return f"{self.as_of:%Y-%m-%d}"


class PaymentOrder(models.Model):
    """What one run pays one supplier (付款单): the sum of its payment lines."""

    run = models.ForeignKey(PaymentRun, verbose_name=_("支付批次"), on_delete=models.PROTECT, related_name="orders")
    supplier = models.ForeignKey(Supplier, verbose_name=_("供应企业"), on_delete=models.PROTECT,
                                 related_name="payment_orders")
    number = models.CharField(_("付款单号"), max_length=60, unique=True)
    count = models.PositiveIntegerField(_("笔数"), default=0)
    amount = models.DecimalField(_("金额(元)"), default=0, **MONEY)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("付款单")
        verbose_name_plural = _("付款单")
        ordering = ["run", "supplier__code"]
        constraints = [
            models.UniqueConstraint(fields=["run", "supplier"], name="proc_payment_order_unique"),
        ]

    def __str__(self) -> str:
        return self.number


class LineState(models.TextChoices):
    INSTRUCTED = "instructed", _("已发指令")
    CONFIRMED = "confirmed", _("银行已支付")
    FAILED = "failed", _("银行退回")


class PaymentLine(models.Model):
    """One delivery instructed for payment (付款明细), and what the bank did with it.

    A delivery has at most one live line (``instructed`` or ``confirmed``): the database
    refuses a second one.  A line the bank returned (``failed``) stays as the record of that
    attempt; once the supplier's details are corrected and reviewed, the delivery returns to
    the queue and the next run writes a new line.  ``paid_on`` is the bank's confirmation date
    (到账日期), from which the days to pay and the timeliness are measured.
    """

    # No database foreign-key constraints: lines are written only by the payment run's chunk,
    # which takes the delivery and its hospital from the delivery row it has just locked and
    # updated, and the order from the run's orders (all constrained), so each reference is
    # valid by construction; the constraints would check it again row by row at commit
    # (≈ a third of the run at 100 000 deliveries).  Deleting a referenced order, delivery or
    # hospital is still refused (``PROTECT``, enforced by Django).
    order = models.ForeignKey(PaymentOrder, verbose_name=_("付款单"), on_delete=models.PROTECT, related_name="lines",
                              db_constraint=False)
    delivery = models.ForeignKey(Delivery, verbose_name=_("配送"), on_delete=models.PROTECT,
                                 related_name="payment_lines", db_constraint=False)
    hospital = models.ForeignKey(Hospital, verbose_name=_("医疗机构"), on_delete=models.PROTECT, related_name="+",
                                 db_constraint=False)
    amount = models.DecimalField(_("金额(元)"), **MONEY)
    accepted_on = models.DateField(_("验收日期"))
    due_on = models.DateField(_("付款期限"))
    state = models.CharField(_("银行状态"), max_length=10, choices=LineState.choices, default=LineState.INSTRUCTED)
    paid_on = models.DateField(_("到账日期(银行确认)"), null=True, blank=True)  # indexed where set
    bank_reference = models.CharField(_("银行流水号"), max_length=60, blank=True)
    days_to_pay = models.PositiveIntegerField(_("验收至到账天数"), null=True, blank=True)
    on_time = models.BooleanField(_("按期支付"), null=True, blank=True)

    SCOPE_TOWNSHIP = "hospital__township"

    class Meta:
        verbose_name = _("付款明细")
        verbose_name_plural = _("付款明细")
        ordering = ["order", "delivery_id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="proc_payment_line_amount_nonnegative"),
            models.UniqueConstraint(fields=["delivery"], condition=~Q(state="failed"), name="proc_payment_line_live"),
            models.CheckConstraint(condition=~Q(state="confirmed") | Q(paid_on__isnull=False, days_to_pay__isnull=False),
                                   name="proc_payment_line_confirmed_dated"),
        ]
        indexes = [
            # Lines the bank confirmed, by date; the run writes its lines undated.
            models.Index(fields=["paid_on"], condition=Q(paid_on__isnull=False), name="proc_payment_line_paid_on"),
        ]

    def __str__(self) -> str:
        return f"{self.order.number}/{self.delivery_id}"


class HospitalDeduction(models.Model):
    """What the bank confirmed paid on a hospital's behalf for a run, deducted from its fund
settlement (从医保基金结算中扣减): it follows confirmed payments, not instructed ones."""

    run = models.ForeignKey(PaymentRun, verbose_name=_("支付批次"), on_delete=models.PROTECT,
                            related_name="deductions")
    hospital = models.ForeignKey(Hospital, verbose_name=_("医疗机构"), on_delete=models.PROTECT,
                                 related_name="deductions")
    count = models.PositiveIntegerField(_("笔数"), default=0)
    amount = models.DecimalField(_("扣减金额(元)"), default=0, **MONEY)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "hospital__township"

    class Meta:
        verbose_name = _("医疗机构结算扣减")
        verbose_name_plural = _("医疗机构结算扣减")
        ordering = ["run", "hospital__code"]
        constraints = [
            models.UniqueConstraint(fields=["run", "hospital"], name="proc_deduction_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.run}/{self.hospital.code}: {self.amount}"
