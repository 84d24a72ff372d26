"""Procurement test world: two hospitals (one per township), two suppliers, three products."""
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pytest

from payments.testing import bank_staff
from procurement import services
from procurement.models import Hospital, Product, Supplier


@dataclass
class World:
    h1: Hospital
    h2: Hospital
    s1: Supplier
    s2: Supplier
    drug: Product       # 12.34 / box, supplier s1
    stent: Product      # 590.00 / piece, supplier s2
    free: Product       # 3.00, no fixed supplier
    finance: object     # the finance clerk who keeps the master data and registers deliveries

    def deliver(self, *, hospital=None, supplier=None, product=None, quantity=100, amount=None,
                delivered_on=date(2024, 3, 1), **kw):
        kw.setdefault("actor", self.finance)
        product = product or self.drug
        supplier = supplier or product.supplier or self.s1
        if amount is None:
            amount = (Decimal(quantity) * product.unit_price).quantize(Decimal("0.01"))
        return services.delivery_create(hospital=hospital or self.h1, supplier=supplier, product=product,
                                        quantity=quantity, amount=amount, delivered_on=delivered_on, **kw)

    def deliver_accepted(self, *, accepted_on=date(2024, 3, 2), accept_quantity=None, **kw):
        d = self.deliver(**kw)
        return services.delivery_accept(delivery_id=d.pk, accepted_on=accepted_on, actor=self.finance,
                                        quantity=d.quantity if accept_quantity is None else accept_quantity)


def build_world(j) -> World:
    fin = bank_staff()[0]
    batch = services.batch_save(code="GJ-7", name="第七批国家集采", level="national", actor=fin)
    s1 = services.supplier_save(code="S001", name="华中医药有限公司", bank_name="中国工商银行十堰分行",
                                bank_account="4200100100000001", actor=fin)
    s2 = services.supplier_save(code="S002", name="鄂西器械有限公司", bank_name="中国建设银行十堰分行",
                                bank_account="4200200200000002", actor=fin)
    return World(
        h1=services.hospital_save(code="H001", name="第1镇卫生院", level=1, township=j.townships[0], actor=fin),
        h2=services.hospital_save(code="H002", name="区人民医院", level=2, township=j.townships[1], actor=fin),
        s1=s1, s2=s2,
        drug=services.product_save(code="P001", name="阿托伐他汀钙片", kind="drug", unit_price="12.34",
                                   batch=batch, supplier=s1, unit="盒", actor=fin),
        stent=services.product_save(code="P002", name="冠脉支架", kind="consumable", unit_price="590.00",
                                    supplier=s2, unit="个", actor=fin),
        free=services.product_save(code="P003", name="一次性输液器", kind="consumable", unit_price="3.00", actor=fin),
        finance=fin,
    )


@pytest.fixture
def world(shiyan):
    return build_world(shiyan)
