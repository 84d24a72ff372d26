"""Claims (one medical episode each) and the per-person, per-year ledger.

The claims helper owns this module.  The double early warning reads
``PersonYearLedger.out_of_pocket`` and the monthly columns ``oop_m01``…``oop_m12`` (the
year-to-date out-of-pocket through month M is their sum), so a monthly run is one scan of the
ledger instead of a GROUP BY over raw claims.
"""
from __future__ import annotations

import json
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from orjson import dumps as _orjson_dumps
from simple_history.models import HistoricalRecords

from members.models import Person, Scheme

ZERO = Decimal("0.00")


def money(verbose_name, **kwargs):
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(verbose_name, max_digits=14, decimal_places=2, **kwargs)


#: JSON text without blanks or escapes: the server parses fewer bytes into the same ``jsonb``.
_json_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _compact(value) -> str:
    """:data:`_json_compact`'s text, by ``orjson`` (the same text for the str keys, strings,
    ints, bools, ``None``, lists and dicts a settlement's breakdown holds; ≈ 8× faster: 10 % of
    the settlement batch's Python was this encoding); anything orjson refuses (a non-str key,
    an int past 64 bits, a type it does not know) takes the standard encoder."""
    try:
        return _orjson_dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return _json_compact(value)


class RowJSONField(models.JSONField):
    """A JSONField inserted row by row in ``bulk_create`` on PostgreSQL.

    Django 5.2 bulk-inserts through ``UNNEST(array, …)``; with psycopg's client-side binding a
    text array of JSON documents is quoted in Python character by character, which made
    writing settlements (a breakdown of a few kB each) slower than computing them.  Declaring
    a placeholder opts the model out of the UNNEST strategy (``VALUES (…), (…)`` instead).
    """

    def get_placeholder(self, value, compiler, connection):
        return "%s"

    #: Top-level keys whose values a batch shares by identity: a settlement's record of the
    #: policy parameters it used is one object for every claim settled on the same parameters.
    shared_keys = ("policy",)

    def copy_text(self, value, memo: dict):
        """The JSON text ``COPY`` writes for ``value`` (PostgreSQL parses it into the same
        ``jsonb`` as the driver's ``json.dumps``), the values of :attr:`shared_keys` encoded
        once per object and ``memo`` (one ``COPY``) and spliced in; ``None``: the driver's
        own adaptation."""
        if type(value) is not dict or self.encoder is not None:
            return None
        rest, spliced = value, []
        for key in self.shared_keys:
            item = value.get(key)
            if type(item) is not dict:
                continue
            found = memo.get(id(item))
            if found is None or found[0] is not item:
                found = memo[id(item)] = (item, _compact(item))  # the item kept: its id stays its own
            if rest is value:
                rest = dict(value)
            del rest[key]
            spliced.append(f"{_compact(key)}:{found[1]}")
        text = _compact(rest)
        if not spliced:
            return text
        return "{" + ",".join(spliced) + ("," + text[1:] if len(text) > 2 else "}")


class VisitType(models.TextChoices):
    INPATIENT = "inpatient", _("住院")
    OUTPATIENT = "outpatient", _("普通门诊")
    CHRONIC = "chronic", _("门诊慢特病")


class ClaimStatus(models.TextChoices):
    SETTLED = "settled", _("已结算")
    REVERSED = "reversed", _("已冲销")
    # The negative entry a reversal writes (冲销记录): the original keeps its amounts and is
    # marked ``reversed``; this row carries the same amounts with the opposite sign, dated
    # when the reversal happened, so fund reports by settlement month net out correctly.
    REVERSAL = "reversal", _("冲销记录")


class ClaimSource(models.TextChoices):
    API = "api", _("接口")
    PLATFORM = "platform", _("平台导入")
    MANUAL = "manual", _("手工报销")


class Claim(models.Model):
    """One medical episode and its settlement through the four tiers (一站式结算)."""

    # No index of its own: the (person, service_date) index below leads with it and serves every
    # look-up by person (a second B-tree the settlement batch wrote for every claim).
    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="claims",
                               db_index=False)
    year = models.PositiveSmallIntegerField(_("结算年度"), editable=False)
    scheme = models.CharField(_("险种"), max_length=10, choices=Scheme.choices, blank=True, editable=False)
    visit_type = models.CharField(_("就诊类型"), max_length=12, choices=VisitType.choices)
    hospital_level = models.PositiveSmallIntegerField(_("医院级别"), choices=[(1, _("一级")), (2, _("二级")), (3, _("三级"))])
    in_province = models.BooleanField(_("省内就医"), default=True)
    referred = models.BooleanField(_("规范转诊"), default=False)
    in_region = models.BooleanField(_("统筹区内就医"), default=True,
                                    help_text=_("在本市(统筹区)内就医;统筹区外就医未转诊且无有效异地就医备案的,不予医疗救助"))
    service_date = models.DateField(_("就诊(出院)日期"))
    admission_date = models.DateField(_("入院日期"), null=True, blank=True,
                                      help_text=_("住院填写;职工住院期间的普通门诊不享受门诊共济。"))
    total_cost = money(_("医疗总费用"))
    policy_scope_cost = money(_("政策范围内费用"))
    basic_paid = money(_("基本医保支付"))
    critical_paid = money(_("大病保险支付"))
    assistance_paid = money(_("医疗救助支付"))
    second_round_paid = money(_("再救助/倾斜救助支付"))
    out_of_pocket = money(_("个人自负"))
    assistance_category = models.PositiveSmallIntegerField(_("救助类别"), null=True, blank=True, editable=False)
    platform_settled = models.BooleanField(_("医院平台已结算基本和大病"), default=False)
    # What the hospital platform gave (a fact of the claim, kept apart from the amounts so that a
    # re-settlement from scratch takes the same basic/critical amounts as given); null: computed.
    basic_given = models.DecimalField(_("平台结算基本医保"), max_digits=14, decimal_places=2, null=True, blank=True,
                                      editable=False)
    critical_given = models.DecimalField(_("平台结算大病保险"), max_digits=14, decimal_places=2, null=True,
                                         blank=True, editable=False)
    # 门诊慢特病 (DOMAIN.md §11): the catalogue code a chronic claim names, the ICD-10 diagnosis
    # (两病 reads it), and the review flag of a platform-settled chronic claim whose disease was
    # not certified for the person on the service date.
    disease = models.CharField(_("慢特病病种"), max_length=20, blank=True, default="")
    diagnosis = models.CharField(_("诊断编码(ICD-10)"), max_length=16, blank=True, default="")
    chronic_review = models.BooleanField(_("慢特病待复核"), default=False,
                                         help_text=_("平台已结算的门诊慢特病费用,其病种在就诊日未经认定。"))
    status = models.CharField(_("状态"), max_length=10, choices=ClaimStatus.choices, default=ClaimStatus.SETTLED)
    source = models.CharField(_("来源"), max_length=10, choices=ClaimSource.choices, default=ClaimSource.API)
    external_ref = models.CharField(_("平台结算流水号"), max_length=64, null=True, blank=True, unique=True)
    policy_version = models.CharField(_("政策版本"), max_length=80, blank=True)
    breakdown = RowJSONField(_("分段明细"), default=dict, blank=True)
    explanation = models.TextField(_("结算说明"), blank=True)
    reversal_of = models.OneToOneField("self", verbose_name=_("冲销对象"), null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="reversed_by")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("经办人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    settled_at = models.DateTimeField(_("结算时间"), auto_now_add=True)

    # The history rows are read by claim (``id``), date and user (its own indexes); the copies of
    # the claim's person, clerk, reversed claim and platform reference are never searched in the
    # history, and their five B-trees were a third of the cost of writing a batch's history.
    history = HistoricalRecords(no_db_index=["person", "created_by", "reversal_of", "external_ref"])

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("结算单")
        verbose_name_plural = _("结算单")
        indexes = [
            models.Index(fields=["person", "service_date"]),
            models.Index(fields=["year", "visit_type"]),
            models.Index(fields=["service_date"]),
            models.Index(fields=["settled_at"]),
            models.Index(fields=["status", "year"]),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(policy_scope_cost__lte=models.F("total_cost"))
                                   | models.Q(status="reversal"), name="claim_scope_within_total"),
        ]

    def __str__(self) -> str:
        return f"{self.get_visit_type_display()} {self.service_date} #{self.pk}"

    @property
    def insurance_paid(self):
        return self.basic_paid + self.critical_paid


class PersonYearLedger(models.Model):
    """Cumulative amounts for one person and year (个人年度累计台账).

    Settlement locks this row (``select_for_update``) and computes each annual threshold and
    cap as F(cumulative after) − F(cumulative before) (claims/rules); a reversal subtracts
    exactly the delta the claim added.  ``*_base`` are the cumulative amounts thresholds run
    on, ``*_paid`` the cumulative payments caps run on.  ``out_of_pocket`` and ``oop_m01`` …
    ``oop_m12`` (by service month) are what the double early warning reads.
    """

    # No index of its own: the unique (person, year) constraint's index leads with it (one B-tree
    # less for every ledger row the settlement batch updates; none of them is a HOT update).
    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="ledgers",
                               db_index=False)
    year = models.PositiveSmallIntegerField(_("年度"))
    total_cost = money(_("医疗总费用累计"))
    policy_scope_cost = money(_("政策范围内费用累计"))
    basic_inpatient_base = money(_("住院政策范围内费用累计"))
    basic_inpatient_paid = money(_("住院统筹支付累计"))
    basic_outpatient_base = money(_("普通门诊计入起付线累计"))
    basic_outpatient_paid = money(_("普通门诊统筹支付累计"))
    basic_chronic_base = money(_("门诊慢特病计入起付线累计"))
    basic_chronic_paid = money(_("门诊慢特病统筹支付累计"))
    critical_base = money(_("大病保险累计自付"))
    critical_paid = money(_("大病保险支付累计"))
    assistance_base = money(_("住院救助计入起付线累计"))
    assistance_paid = money(_("医疗救助支付累计(住院与慢特病共用限额)"))
    second_round_base = money(_("再救助/倾斜救助累计自付"))
    second_round_paid = money(_("再救助/倾斜救助支付累计"))
    out_of_pocket = money(_("个人自负累计"))
    oop_m01 = money(_("1月自负"))
    oop_m02 = money(_("2月自负"))
    oop_m03 = money(_("3月自负"))
    oop_m04 = money(_("4月自负"))
    oop_m05 = money(_("5月自负"))
    oop_m06 = money(_("6月自负"))
    oop_m07 = money(_("7月自负"))
    oop_m08 = money(_("8月自负"))
    oop_m09 = money(_("9月自负"))
    oop_m10 = money(_("10月自负"))
    oop_m11 = money(_("11月自负"))
    oop_m12 = money(_("12月自负"))
    claims_count = models.PositiveIntegerField(_("结算笔数"), default=0)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("个人年度台账")
        verbose_name_plural = _("个人年度台账")
        constraints = [
            models.UniqueConstraint(fields=["person", "year"], name="ledger_unique_person_year"),
            models.CheckConstraint(condition=models.Q(out_of_pocket__gte=0), name="ledger_oop_not_negative"),
        ]
        indexes = [
            # The double early warning's read: the rows of a year above a line, with the person
            # and the month columns it sums carried in the index (PostgreSQL ``INCLUDE``), so the
            # monthly run reads the index alone, not a million wide ledger rows.  Updates of
            # ``out_of_pocket`` could never be HOT anyway (it is the key).
            models.Index(fields=["year", "out_of_pocket"], include=["person", *(f"oop_m{m:02d}" for m in range(1, 13))],
                         name="ledger_year_oop_warning"),
        ]

    def __str__(self) -> str:
        return f"{self.person_id} {self.year}"

    @property
    def basic_paid(self):
        return self.basic_inpatient_paid + self.basic_outpatient_paid + self.basic_chronic_paid


class EntryKind(models.TextChoices):
    PAYOUT = "payout", _("一次性救助")
    ADJUSTMENT = "adjustment", _("调整")


class CashStatus(models.TextChoices):
    """What the entry means for money actually moving (财务处理)."""

    TO_PAY = "to_pay", _("应补付")
    # In a bank payout batch (assistance.bank_payouts): neither payable again nor payable by hand.
    INSTRUCTED = "instructed", _("已发银行代发指令")
    PAID = "paid", _("已补付")
    TO_RECOVER = "to_recover", _("应追回")
    RECOVERED = "recovered", _("已追回")
    NONE = "none", _("无资金往来")


class LedgerEntry(models.Model):
    """A payment of a person-year that is not a claim's own settlement (台账分录).

    A claim's settlement (and its reversal entry) is the ``Claim`` row itself; everything else
    that moves a person-year's amounts is an entry here: the one-time payments of DOMAIN.md §6
    (``payout``: a retroactive assistance or a tilt approval's catch-up, written when the
    reviewer approves) and the differences a re-settlement finds (``adjustment``: 补付 when more
    is due, 追回 when less).  Each entry belongs to the claim whose amounts it changes, carries
    the full ledger delta (thresholds' bases included) and a readable reason; it is never edited
    except for its cash status.  The year ledger equals the sum of its claims and entries.
    """

    person = models.ForeignKey(Person, verbose_name=_("参保人"), on_delete=models.PROTECT, related_name="ledger_entries")
    year = models.PositiveSmallIntegerField(_("年度"))
    kind = models.CharField(_("类型"), max_length=12, choices=EntryKind.choices)
    claim = models.ForeignKey(Claim, verbose_name=_("结算单"), null=True, blank=True, on_delete=models.PROTECT,
                              related_name="entries")
    application_id = models.BigIntegerField(_("救助申请编号"), null=True, blank=True,
                                            help_text=_("一次性救助所依据的申请(不设外键:救助应用在结算之上)。"))
    batch = models.CharField(_("重算批次"), max_length=32, db_index=True)
    basic = money(_("基本医保"))
    critical = money(_("大病保险"))
    assistance = money(_("医疗救助"))
    second_round = money(_("再救助/倾斜救助"))
    out_of_pocket = money(_("个人自负"))
    delta = models.JSONField(_("台账变动"), default=dict, blank=True)
    reason = models.TextField(_("原因"))
    policy_version = models.CharField(_("政策版本"), max_length=80, blank=True)
    cash_status = models.CharField(_("资金处理"), max_length=12, choices=CashStatus.choices, default=CashStatus.NONE)
    cash_reference = models.CharField(_("支付/追回凭证"), max_length=60, blank=True)
    cash_at = models.DateTimeField(_("资金处理时间"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("经办人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(_("记账时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = "person__township"

    class Meta:
        verbose_name = _("台账分录")
        verbose_name_plural = _("台账分录(补付/追回)")
        ordering = ["person_id", "year", "id"]
        indexes = [models.Index(fields=["person", "year"]), models.Index(fields=["cash_status", "at"]),
                   models.Index(fields=["application_id"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.person_id} {self.year} #{self.pk}"

    @property
    def total(self):
        return self.basic + self.critical + self.assistance + self.second_round


class Fund(models.TextChoices):
    EMPLOYEE = "employee", _("职工医保统筹基金(含生育)")
    RESIDENT = "resident", _("城乡居民医保基金")
    ASSISTANCE = "assistance", _("医疗救助基金")


class FundEntryKind(models.TextChoices):
    OPENING = "opening", _("期初滚存结余")
    PREMIUM = "premium", _("个人缴费收入")
    EMPLOYER = "employer", _("单位缴费收入")
    SUBSIDY = "subsidy", _("财政补助收入")
    INTEREST = "interest", _("利息收入")
    TRANSFER = "transfer", _("上级补助及调剂收入")
    OTHER_INCOME = "other_income", _("其他收入")
    ACCOUNT_TRANSFER_IN = "account_in", _("个账转移收入")
    TRANSFER_IN = "transfer_in", _("医保关系转移收入")
    OTHER_EXPENSE = "other_expense", _("其他支出")
    # Non-claim expenses of the published fund statement (001 (二)).
    PHARMACY = "pharmacy", _("定点药店药费")
    MATERNITY_MEDICAL = "maternity_med", _("生育医疗费支出")
    MATERNITY_ALLOWANCE = "maternity_pay", _("生育津贴")
    TRANSFER_OUT = "transfer_out", _("医保关系转移支出")
    VACCINATION = "vaccination", _("疫苗接种费")
    VACCINE_PURCHASE = "vaccine_buy", _("疫苗采购费")
    CRITICAL_PREMIUM = "critical_prem", _("大病保险保费支出")


#: Fund-entry kinds that are expenses; the others (but the opening balance) are income.
FUND_EXPENSE_KINDS = frozenset({
    FundEntryKind.OTHER_EXPENSE, FundEntryKind.PHARMACY, FundEntryKind.MATERNITY_MEDICAL,
    FundEntryKind.MATERNITY_ALLOWANCE, FundEntryKind.TRANSFER_OUT, FundEntryKind.VACCINATION,
    FundEntryKind.VACCINE_PURCHASE, FundEntryKind.CRITICAL_PREMIUM})


class FundEntry(models.Model):
    """A fund income (or non-claim expense) figure finance records for a month (基金收支).

    Claim payments are the funds' main expense and come from the claims themselves; these
    entries carry the income by source, the opening balance and any other expense, so that
    the fund report can show balances and months of payment capacity (DOMAIN.md §10).
    """

    fund = models.CharField(_("基金"), max_length=12, choices=Fund.choices)
    region = models.ForeignKey("yibao_site.Region", verbose_name=_("统筹区"), on_delete=models.PROTECT,
                               related_name="+")
    month = models.DateField(_("所属月份"), help_text=_("该月1日"))
    kind = models.CharField(_("收支项目"), max_length=16, choices=FundEntryKind.choices)
    amount = models.DecimalField(_("金额"), max_digits=14, decimal_places=2)
    note = models.CharField(_("说明"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("登记时间"), auto_now_add=True)

    history = HistoricalRecords()

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("基金收支登记")
        verbose_name_plural = _("基金收支登记")
        ordering = ["-month", "fund"]
        indexes = [models.Index(fields=["fund", "month"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="fund_entry_amount_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_fund_display()} {self.month:%Y-%m} {self.get_kind_display()} {self.amount}"


class LedgerCheck(models.Model):
    """One run of the nightly ledger check (台账核对) for a year: how many differences between
    the year ledgers and their claims it found, and the first of them.  One row per year and
    day: running the check again the same day updates it in place."""

    year = models.PositiveSmallIntegerField(_("年度"))
    checked_on = models.DateField(_("核对日期"))
    ledgers = models.PositiveIntegerField(_("台账数"), default=0)
    mismatches = models.PositiveIntegerField(_("差异数"), default=0)
    details = models.JSONField(_("差异明细(前100条)"), default=list, blank=True)
    shards = models.PositiveIntegerField(_("分片数"), default=1)
    shards_done = models.PositiveIntegerField(_("已完成分片"), default=0)
    updated_at = models.DateTimeField(_("核对时间"), auto_now=True)

    SCOPE_TOWNSHIP = None

    class Meta:
        verbose_name = _("台账核对")
        verbose_name_plural = _("台账核对")
        ordering = ["-checked_on", "-year"]
        constraints = [models.UniqueConstraint(fields=["year", "checked_on"], name="ledger_check_unique_year_day")]

    def __str__(self) -> str:
        return f"{self.year} {self.checked_on}: {self.mismatches}"


class LedgerCheckShard(models.Model):
    """One slice of a ledger check: the ledgers of a contiguous range of person ids, checked by
    one task so that a city's or a province's year spreads over the workers (README, 超出一台
    机器).  A check planned again the same day replaces its shards; a task whose shard is gone
    does nothing."""

    ledger_check = models.ForeignKey(LedgerCheck, on_delete=models.CASCADE, related_name="shard_rows",
                              verbose_name=_("台账核对"))
    index = models.PositiveIntegerField(_("分片序号"))
    person_from = models.BigIntegerField(_("起始人员ID"))
    person_to = models.BigIntegerField(_("截止人员ID"))
    ledgers = models.PositiveIntegerField(_("台账数"), default=0)
    mismatches = models.PositiveIntegerField(_("差异数"), default=0)
    details = models.JSONField(_("差异明细(前100条)"), default=list, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("台账核对分片")
        verbose_name_plural = _("台账核对分片")
        ordering = ["ledger_check", "index"]
        constraints = [models.UniqueConstraint(fields=["ledger_check", "index"], name="ledger_check_shard_unique")]

    def __str__(self) -> str:
        return f"{self.ledger_check_id}#{self.index}"
