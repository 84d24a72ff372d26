"""Demo data of procurement for ``seed_demo``: two procurement batches, suppliers and selected
products, a designated hospital per township plus a county hospital per county, this year's
agreed volumes, four months of deliveries (mostly accepted in full, some partial acceptances
with an invoice still for the whole delivery — held for finance —, some not yet accepted),
and a payment run every few days, the older ones reviewed by finance.

Written through the services and the ``deliveries`` importer (invoice numbers are the natural
key), so a second run changes nothing.
"""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from payments.models import InstructionBatch
from payments.testing import answer, send

from . import services
from .importers import DeliveryImporter
from .models import AgreedVolume, PaymentRun, RunStatus

SUPPLIERS = [
    ("QY001", "国药控股湖北有限公司"), ("QY002", "华润湖北医药有限公司"), ("QY003", "九州通医药集团股份有限公司"),
    ("QY004", "上药控股湖北有限公司"), ("QY005", "湖北人福医药集团有限公司"), ("QY006", "十堰市医药有限公司"),
    ("QY007", "鄂西北医疗器械有限公司"), ("QY008", "武汉微创医疗器械有限公司"),
]
PRODUCTS = [  # code, name, kind, specification, unit, selected price, batch, supplier
    ("YP001", "阿托伐他汀钙片", "drug", "20mg×7片", "盒", "1.87", "GJ-7", "QY001"),
    ("YP002", "苯磺酸氨氯地平片", "drug", "5mg×28片", "盒", "2.66", "GJ-7", "QY002"),
    ("YP003", "二甲双胍缓释片", "drug", "0.5g×30片", "盒", "3.15", "GJ-7", "QY003"),
    ("YP004", "厄贝沙坦片", "drug", "150mg×30片", "盒", "4.92", "GJ-7", "QY001"),
    ("YP005", "恩替卡韦分散片", "drug", "0.5mg×28片", "盒", "7.42", "GJ-7", "QY004"),
    ("YP006", "头孢呋辛酯片", "drug", "0.25g×12片", "盒", "5.38", "GJ-7", "QY005"),
    ("YP007", "氯吡格雷片", "drug", "75mg×7片", "盒", "6.13", "GJ-7", "QY002"),
    ("YP008", "瑞舒伐他汀钙片", "drug", "10mg×28片", "盒", "5.60", "GJ-7", "QY003"),
    ("YP009", "甘精胰岛素注射液", "drug", "3ml:300单位", "支", "71.46", "SJ-2023", "QY004"),
    ("YP010", "格列美脲片", "drug", "2mg×30片", "盒", "3.70", "SJ-2023", "QY006"),
    ("HC001", "冠脉药物洗脱支架", "consumable", "常规型", "个", "598.00", "GJ-HC", "QY008"),
    ("HC002", "人工髋关节", "consumable", "陶瓷-聚乙烯", "套", "7164.00", "GJ-HC", "QY007"),
    ("HC003", "人工膝关节", "consumable", "初次置换", "套", "5335.00", "GJ-HC", "QY007"),
    ("HC004", "一次性使用输液器", "consumable", "带针", "套", "0.92", "SJ-2023", "QY006"),
]
BATCHES = [("GJ-7", "第七批国家组织药品集中采购", "national"), ("GJ-HC", "国家组织高值医用耗材集中带量采购", "national"),
           ("SJ-2023", "湖北牵头省际联盟药品及耗材集中带量采购(2023)", "inter_provincial")]
DAYS_BACK = 120
RUN_EVERY_DAYS = 8  # 15 runs over the 120 days
DELIVERIES_PER_PERSON = Decimal("0.1")  # one delivery per 10 persons (at least 60)
# The demo's hospitals do not grow with its persons (one per township and county): from 200 000
# persons on, their four months of deliveries stay at this many (≈ 5 a hospital a day), so a
# city-sized demo's deliveries and payment runs take the time a 200 000-person one does.
MAX_DELIVERIES = 20_000


def seed(ctx) -> None:
    rng, j, today = ctx.rng, ctx.jurisdiction, ctx.today
    finance = ctx.staff["demo_finance"]  # every write goes through a service, as finance
    log = getattr(ctx, "log", print)

    batches = {code: services.batch_save(code=code, name=name, level=level, actor=finance)
               for code, name, level in BATCHES}
    suppliers = {code: services.supplier_save(code=code, name=name, bank_name="中国工商银行十堰分行",
                                              bank_account=f"1810{i:012d}", actor=finance)
                 for i, (code, name) in enumerate(SUPPLIERS)}
    products = [services.product_save(code=c, name=n, kind=k, specification=s, unit=u, unit_price=p, batch=batches[b],
                                      supplier=suppliers[q], actor=finance) for c, n, k, s, u, p, b, q in PRODUCTS]
    hospitals = []
    for i, town in enumerate(j.townships):
        hospitals.append(services.hospital_save(code=f"YY{town.code}", name=f"{town.name}卫生院", level=1,
                                                township=town, actor=finance))
    for county in j.counties:
        seat = next(t for t in j.townships if t.parent_id == county.id)
        hospitals.append(services.hospital_save(code=f"YY{county.code}", name=f"{county.name}人民医院", level=2,
                                                township=seat, actor=finance))
    log(f"  procurement master data: {len(suppliers)} suppliers, {len(products)} products, {len(hospitals)} hospitals")

    drugs = [p for p in products if p.kind == "drug"]
    consumables = [p for p in products if p.kind == "consumable"]
    existing = set(AgreedVolume.objects.filter(year=today.year).values_list("hospital_id", "product_id"))
    plan = []
    for h in hospitals:
        chosen = rng.sample(drugs, 5) + (rng.sample(consumables, 2) if h.level > 1 else [consumables[-1]])
        for p in chosen:
            yearly = rng.randrange(600, 3000) if p.kind == "drug" else rng.randrange(20, 120) * (1 if p.unit_price > 100 else 50)
            plan.append((h, p, yearly))
            if (h.pk, p.pk) not in existing:
                services.agreed_volume_save(hospital=h, product=p, year=today.year, quantity=yearly, actor=finance)

    n = min(max(60, int(ctx.persons * DELIVERIES_PER_PERSON)), MAX_DELIVERIES)
    rows = []
    for i in range(n):
        h, p, yearly = plan[rng.randrange(len(plan))]
        # Laggards on purpose: a few hospitals buy little of what they agreed.
        share = Decimal("0.2") if h.pk % 5 == 0 else Decimal("1.0")
        qty = max(1, int(Decimal(yearly) / 26 * share * Decimal(rng.uniform(0.5, 1.5))))
        delivered = today - timedelta(days=rng.randrange(1, DAYS_BACK))
        roll = rng.random()
        row = {"hospital": h.code, "supplier": p.supplier.code, "product": p.code, "quantity": str(qty),
               "amount": str((p.unit_price * qty).quantize(Decimal("0.01"))), "delivered_on": delivered.isoformat(),
               "invoice_number": f"FP{today:%Y%m%d}{i:05d}", "accepted_on": "", "accepted_quantity": ""}
        accepted = min(today, delivered + timedelta(days=rng.randrange(0, 4)))
        if roll < 0.85:
            row["accepted_on"] = accepted.isoformat()
        elif roll < 0.92 and qty > 1:
            row["accepted_on"], row["accepted_quantity"] = accepted.isoformat(), str(qty - max(1, qty // 10))
        rows.append(row)
    report = DeliveryImporter(user=finance).run(rows, actor=finance)
    if not report.ok:
        raise RuntimeError("demo deliveries import failed: " + "; ".join(str(e) for e in report.errors[:5]))
    log(f"  deliveries: created {report.created}, updated {report.updated}, unchanged {report.unchanged}")

    days = list(range(DAYS_BACK, 0, -RUN_EVERY_DAYS))
    runs = 0
    for back in days:
        run = services.payment_run_start(as_of=today - timedelta(days=back), actor=finance,
                                         trigger="schedule")
        runs += 1
        if back > 2 * RUN_EVERY_DAYS and run.reviewed_at is None and run.status == RunStatus.COMPLETED:
            services.payment_run_review(run_id=run.pk, actor=finance, note="演示:已核对付款单与扣减")
        _through_the_bank(ctx, run, back=back, today=today)
    unreviewed = PaymentRun.objects.filter(reviewed_at__isnull=True).count()
    log(f"  payment runs: {runs} (to review: {unreviewed})")


def _through_the_bank(ctx, run, *, back: int, today) -> None:
    """Older runs: signed off, sent and paid by the bank the next day; the last few days'
    runs: sent and still unconfirmed; the latest: waiting for finance to prepare it."""
    batch = InstructionBatch.objects.filter(purpose="supplier", source_ref=f"run:{run.pk}").first()
    finance, supervisor = ctx.staff.get("demo_finance"), ctx.staff.get("demo_supervisor")
    if batch is None or back <= RUN_EVERY_DAYS or finance is None or supervisor is None:
        return
    send(batch, finance=finance, supervisor=supervisor)
    if back > 2 * RUN_EVERY_DAYS:
        answer(batch, on=min(today, run.as_of + timedelta(days=1)), finance=finance)
