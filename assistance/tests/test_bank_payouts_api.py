"""Assistance payout batches over the API and in finance's admin screens: roles, the queue, the
payee account with a relative's proof (multipart), the batch and its bank steps."""
from __future__ import annotations

from datetime import date

from django.test import Client

from assistance.models import PayoutBatch
from payments.models import BankFile, PersonBankAccount

from .conftest import upload
from .test_bank_payouts import owed, threshold_5000  # noqa: F401  (fixtures)

BATCHES = "/api/v1/assistance/payout-batches/"


def test_queue_account_and_batch_over_the_api(api, staff, owed, shiyan):  # noqa: F811
    ding = owed["ding"][0]
    fin, sup = api(staff["finance"]), api(staff["supervisor"])
    assert api(staff["agent"]).get(f"/api/v1/assistance/payout-queue/?region={shiyan.city.code}").status_code == 403
    rows = fin.get(f"/api/v1/assistance/payout-queue/?region={shiyan.city.code}").json()
    # The held first (with the reason), then the payable.
    assert (rows[0]["name"], rows[0]["amount"], rows[0]["problem"]) == ("丁", "500.00", "未登记救助金收款账户。")
    assert sorted((r["name"], r["amount"], r["entries"], r["problem"]) for r in rows[1:]) == [
        ("乙", "6000.00", 2, ""), ("甲", "500.00", 1, "")]

    # A relative's account needs the relation and an uploaded proof.
    res = fin.post("/api/v1/person-bank-accounts/", {"person": ding.id_number, "payee_kind": "relative",
                                                     "account_name": "丁妻", "bank_name": "十堰农商行",
                                                     "account_number": "6230000000000005", "relation": "spouse",
                                                     "evidence": "结婚证"}, format="multipart")
    assert res.status_code == 400 and "evidence_file" in res.json()
    assert not PersonBankAccount.objects.filter(person=ding).exists()
    res = fin.post("/api/v1/person-bank-accounts/", {"person": ding.id_number, "payee_kind": "relative",
                                                     "account_name": "丁妻", "bank_name": "十堰农商行",
                                                     "account_number": "6230000000000005", "relation": "spouse",
                                                     "evidence": "结婚证", "evidence_file": upload("结婚证.pdf")},
                   format="multipart")
    assert res.status_code == 201, res.content
    assert res.json()["has_evidence_file"] is True and res.json()["evidence_name"] == "结婚证.pdf"
    assert fin.get(f"/api/v1/person-bank-accounts/{ding.id_number}/").json()["relation"] == "spouse"

    assert api(staff["reviewer"]).post(BATCHES, {"region": shiyan.city.code, "on": "2024-03-25"}).status_code == 403
    res = fin.post(BATCHES, {"region": shiyan.city.code, "on": "2024-03-25"})
    assert res.status_code == 201, res.content
    body = res.json()
    # 500.00 + 6 000.00 + 500.00 = 7 000.00 > 5 000.00: a supervisor must approve.
    assert (body["count"], body["total_amount"], body["held_count"], body["signoff_required"]) == (
        3, "7000.00", 0, True)
    assert sorted(line["amount"] for line in body["lines"]) == ["2500.00", "3500.00", "500.00", "500.00"]
    bid = body["id"]
    assert fin.post(f"{BATCHES}{bid}/prepare/").json()["status"] == "awaiting_approval"
    assert fin.post(f"{BATCHES}{bid}/approve/").status_code == 403
    assert sup.post(f"{BATCHES}{bid}/approve/").json()["status"] == "ready"
    res = fin.post(f"{BATCHES}{bid}/produce-file/", {})
    assert res.status_code == 201 and res.json()["count"] == 3 and res.json()["total_amount"] == "7000.00"
    # Nothing is owed any more: a second batch is refused with a message, never a 500.
    res = fin.post(BATCHES, {"region": shiyan.city.code, "on": "2024-03-26"})
    assert res.status_code == 400 and "detail" in res.json()
    assert fin.post(BATCHES, {"region": "999999", "on": "2024-03-26"}).status_code == 400


def test_finance_screens(staff, owed, shiyan):  # noqa: F811
    client = Client()
    client.force_login(staff["finance"])
    res = client.get(f"/admin/assistance/payoutbatch/queue/?region={shiyan.city.code}")
    assert res.status_code == 200 and "未登记救助金收款账户" in res.content.decode()
    res = client.post("/admin/assistance/payoutbatch/add/", {"region": shiyan.city.pk, "on": "2024-03-25"})
    assert res.status_code == 302, res.content.decode()[:2000]
    batch = PayoutBatch.objects.get()
    assert (batch.count, str(batch.total_amount), batch.held_count) == (2, "6500.00", 1)
    page = client.get(f"/admin/assistance/payoutbatch/{batch.pk}/change/").content.decode()
    assert "6500.00" in page and "未登记救助金收款账户" in page and "须主管审批" in page
    client.post("/admin/assistance/payoutbatch/", {"action": "prepare", "_selected_action": [batch.pk]})
    client.post("/admin/assistance/payoutbatch/", {"action": "produce_file", "_selected_action": [batch.pk]})
    assert not BankFile.objects.exists()  # above the sign-off amount: not before the supervisor approves
    boss = Client()
    boss.force_login(staff["supervisor"])
    boss.post("/admin/assistance/payoutbatch/", {"action": "approve", "_selected_action": [batch.pk]})
    client.post("/admin/assistance/payoutbatch/", {"action": "produce_file", "_selected_action": [batch.pk]})
    client.post("/admin/assistance/payoutbatch/", {"action": "mark_sent", "_selected_action": [batch.pk]})
    assert BankFile.objects.get().sent_at is not None
    assert client.get("/admin/assistance/payoutline/?state=held").status_code == 200
    assert client.get("/admin/assistance/payoutbatch/").status_code == 200
    account = PersonBankAccount.objects.get(person=owed["yi"][0])
    res = client.get(f"/admin/payments/personbankaccount/{account.pk}/evidence/")
    assert res.status_code == 200 and b"".join(res.streaming_content).startswith(b"%PDF")
    assert client.get(f"/admin/payments/personbankaccount/{account.pk}/change/").status_code == 200
    agent = Client()
    agent.force_login(staff["agent"])
    assert agent.get("/admin/assistance/payoutbatch/").status_code in (302, 403)


def test_a_relative_account_with_its_proof_through_the_admin(staff, owed, settings):  # noqa: F811
    ding = owed["ding"][0]
    client = Client()
    client.force_login(staff["finance"])
    res = client.post("/admin/payments/personbankaccount/add/", {
        "person": ding.pk, "payee_kind": "relative", "account_name": "丁子", "bank_name": "十堰农商行",
        "account_number": "6230000000000006", "relation": "child", "evidence": "户口簿",
        "evidence_file": upload("户口簿.pdf")})
    assert res.status_code == 302, res.content.decode()[:3000]
    account = PersonBankAccount.objects.get(person=ding)
    assert (account.relation, account.evidence_name, bool(account.evidence_file)) == ("child", "户口簿.pdf", True)
    # One file stored (the form's validation pass writes none), under a name that is not the upload's.
    stored = [p for p in (settings.MEDIA_ROOT / "payee-accounts" / str(ding.pk)).rglob("*") if p.is_file()]
    assert stored == [settings.MEDIA_ROOT / account.evidence_file.name] and "户口簿" not in str(stored[0])


def test_demo_seeds_a_batch_with_a_paid_a_returned_and_a_correction_once(shiyan, staff, make_person, give_identity,
                                                                         settle_claim):
    import random
    from datetime import timedelta
    from types import SimpleNamespace

    from assistance import demo
    from assistance.bank_payouts import demo as bank_demo
    from payments.models import Instruction, PayeeCorrection

    today = date(2024, 6, 14)
    for i in range(4):
        person = make_person(f"重病{i}")
        settle_claim(person, today - timedelta(days=60), policy_scope_cost="30000", basic_paid="15000",
                     total_cost=str(60000 + i))
    for i in range(3):
        person = make_person(f"低保{i}")
        give_identity(person, "subsistence", today - timedelta(days=30))
        settle_claim(person, today - timedelta(days=90), policy_scope_cost="20000", basic_paid="10000")
    ctx = SimpleNamespace(rng=random.Random(1), persons=10, jurisdiction=shiyan, today=today, log=lambda *a: None,
                          staff={"township_agent": staff["agent"], "reviewer": staff["reviewer"],
                                 "finance": staff["finance"], "window_clerk": staff["clerk"],
                                 "supervisor": staff["supervisor"]})
    demo.seed(ctx)
    bank_demo.seed(ctx)
    assert PayoutBatch.objects.count() == 1
    assert set(Instruction.objects.filter(purpose="assistance").values_list("status", flat=True)) == {
        "confirmed", "failed"}
    assert PayeeCorrection.objects.filter(status="submitted").count() == 1
    before = (PayoutBatch.objects.count(), Instruction.objects.count(), PersonBankAccount.objects.count())
    bank_demo.seed(ctx)
    assert (PayoutBatch.objects.count(), Instruction.objects.count(), PersonBankAccount.objects.count()) == before
