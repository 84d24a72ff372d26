"""Procurement master data (DOMAIN.md §8): procurement batches, suppliers and their bank
details, selected products and prices, designated hospitals, and purchase orders."""
from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from yibao_site.actors import require_actor
from yibao_site.audit import audited_save
from yibao_site.models import Region, RegionLevel

from ..models import BatchLevel, Hospital, HospitalLevel, Order, ProcurementBatch, Product, ProductKind, Supplier
from ._common import CORRECTION_REVIEWERS, FINANCE_ROLES, _money, _positive_int


def _upsert(model, code: str, fields: dict, *, actor, reason: str):
    obj = model.objects.select_for_update().filter(code=code).first() or model(code=code)
    created = obj.pk is None
    if not created and all(getattr(obj, k) == v for k, v in fields.items()):
        return obj
    for k, v in fields.items():
        setattr(obj, k, v)
    obj.full_clean(validate_unique=created)
    audited_save(obj, actor=actor, reason=reason)
    return obj


@transaction.atomic
def batch_save(*, code: str, name: str, level: str, starts_on: date | None = None, ends_on: date | None = None,
               actor=None) -> ProcurementBatch:
    """Create or update the procurement batch ``code``."""
    require_actor(actor, FINANCE_ROLES)
    if level not in BatchLevel.values:
        raise ValidationError({"level": [_("集采层级应为 national、provincial 或 inter_provincial。")]})
    if starts_on and ends_on and ends_on < starts_on:
        raise ValidationError({"ends_on": [_("结束日期不能早于开始日期。")]})
    return _upsert(ProcurementBatch, code, {"name": name, "level": level, "starts_on": starts_on, "ends_on": ends_on},
                   actor=actor, reason=_("保存集采批次"))


@transaction.atomic
def supplier_save(*, code: str, name: str, credit_code: str = "", bank_name: str = "", bank_account: str = "",
                  actor=None) -> Supplier:
    """Create or update the supplier ``code``."""
    require_actor(actor, FINANCE_ROLES)
    return _upsert(Supplier, code, {"name": name, "credit_code": credit_code, "bank_name": bank_name,
                                    "bank_account": bank_account}, actor=actor, reason=_("保存供应企业"))


@transaction.atomic
def supplier_bank_correct(*, code: str, bank_name: str, bank_account: str, actor) -> Supplier:
    """Record the supplier's corrected bank details once a payee correction was reviewed (the
    reviewer is finance or a supervisor: payments' ``correction_approve`` calls back here)."""
    require_actor(actor, CORRECTION_REVIEWERS)
    supplier = Supplier.objects.get(code=code)
    return _upsert(Supplier, code, {"name": supplier.name, "credit_code": supplier.credit_code,
                                    "bank_name": bank_name, "bank_account": bank_account},
                   actor=actor, reason=_("保存供应企业"))


@transaction.atomic
def product_save(*, code: str, name: str, kind: str, unit_price, specification: str = "", unit: str = "",
                 batch: ProcurementBatch | None = None, supplier: Supplier | None = None, actor=None) -> Product:
    """Create or update the product ``code`` and its selected unit price.

    Deliveries copy the price when they are registered, so a new price applies to later
    deliveries only.
    """
    require_actor(actor, FINANCE_ROLES)
    if kind not in ProductKind.values:
        raise ValidationError({"kind": [_("类别应为 drug 或 consumable。")]})
    price = _money(unit_price, "unit_price")
    if price <= 0:
        raise ValidationError({"unit_price": [_("中选单价必须大于0。")]})
    return _upsert(Product, code, {"name": name, "kind": kind, "unit_price": price, "specification": specification,
                                   "unit": unit, "batch": batch, "supplier": supplier},
                   actor=actor, reason=_("保存集采产品"))


@transaction.atomic
def hospital_save(*, code: str, name: str, level: int, township: Region, actor=None) -> Hospital:
    """Create or update the designated hospital ``code`` in a township."""
    require_actor(actor, FINANCE_ROLES)
    if township is None or township.level != RegionLevel.TOWNSHIP:
        raise ValidationError({"township": [_("所在区划必须是乡镇(街道)。")]})
    if str(level) not in {str(v) for v in HospitalLevel.values}:
        raise ValidationError({"level": [_("医院等级应为1、2或3。")]})
    return _upsert(Hospital, code, {"name": name, "level": int(level), "township": township},
                   actor=actor, reason=_("保存定点医疗机构"))


@transaction.atomic
def order_create(*, hospital: Hospital, supplier: Supplier, product: Product, quantity, ordered_on: date,
                 number: str = "", actor=None) -> Order:
    """Register a purchase order from a hospital to a supplier."""
    require_actor(actor, FINANCE_ROLES)
    _check_supplier_of(product, supplier)
    order = Order(hospital=hospital, supplier=supplier, product=product,
                  quantity=_positive_int(quantity, "quantity"), ordered_on=ordered_on, number=number)
    audited_save(order, actor=actor, reason=_("登记采购订单"))
    return order


def _check_supplier_of(product: Product, supplier: Supplier) -> None:
    if product.supplier_id and product.supplier_id != supplier.pk:
        raise ValidationError({"supplier": [_("产品 %(product)s 的中选企业不是 %(supplier)s。")
                                            % {"product": product.code, "supplier": supplier.code}]})

