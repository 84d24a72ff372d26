"""Pure rules of bank payments and the configurable bank file layout."""
from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from payments import rules, services
from payments.models import BankFileLayout, InstructionBatch, PayeeKind, Purpose
from payments.testing import bank_staff


def test_signoff_is_strictly_above_the_threshold():
    assert not rules.signoff_required(Decimal("500000.00"), Decimal("500000.00"))
    assert rules.signoff_required(Decimal("500000.01"), Decimal("500000.00"))
    assert not rules.signoff_required(Decimal("9e9"), None)


def test_age_buckets_and_pending_overdue():
    assert [rules.age_bucket(d) for d in (0, 1, 2, 3, 4, 7, 8, 15, 16, 30, 31, 400)] == [
        "0-1", "0-1", "2-3", "2-3", "4-7", "4-7", "8-15", "8-15", "16-30", "16-30", "31+", "31+"]
    assert not rules.pending_overdue(date(2024, 3, 1), date(2024, 3, 4), 3)
    assert rules.pending_overdue(date(2024, 3, 1), date(2024, 3, 5), 3)


def test_balanced_checks_count_and_amount():
    z = (0, Decimal("0.00"))
    assert rules.balanced((2, Decimal("3.00")), (1, Decimal("1.00")), (1, Decimal("2.00")), z)
    assert not rules.balanced((2, Decimal("3.00")), (1, Decimal("1.00")), (1, Decimal("1.99")), z)


def test_a_layout_must_carry_the_instruction_number():
    assert services.layout_errors([{"header": "账号", "field": "account_number"}])
    assert services.layout_errors([{"header": "x", "field": "password"}])
    assert not services.layout_errors([{"header": "流水", "field": "number"}])


@pytest.fixture
def batch(shiyan):
    return services.batch_create(
        purpose=Purpose.ASSISTANCE, source_ref="test:1", title="测试", region=shiyan.city, on=date(2024, 5, 1),
        payees=[services.PayeeLine(source_ref="p:2", payee_kind=PayeeKind.RELATIVE, payee_code="X2",
                                   payee_name="=HYPERLINK(\"x\")", account_name="李四", bank_name="农商行",
                                   account_number="6222", amount=Decimal("88.10"), evidence="配偶,结婚证"),
                services.PayeeLine(source_ref="p:1", payee_kind=PayeeKind.SELF, payee_code="X1", payee_name="张三",
                                   account_name="张三", bank_name="农商行", account_number="6221",
                                   amount=Decimal("100.00"))], actor=bank_staff()[0])


def test_batch_numbers_are_stable_and_created_once(batch):
    """88.10 + 100.00 = 188.10; numbers follow the payees' source order (p:1 then p:2)."""
    assert (batch.count, batch.total_amount) == (2, Decimal("188.10"))
    numbers = list(batch.instructions.order_by("source_ref").values_list("number", flat=True))
    assert numbers == [f"JZ20240501{batch.pk:06d}00001", f"JZ20240501{batch.pk:06d}00002"]
    again = services.batch_create(purpose=Purpose.ASSISTANCE, source_ref="test:1", title="x", region=batch.region,
                                  on=date(2024, 5, 2), payees=[], actor=bank_staff()[0])
    assert again.pk == batch.pk and InstructionBatch.objects.count() == 1


def test_an_incomplete_account_is_refused(shiyan):
    with pytest.raises(ValidationError):
        services.batch_create(purpose=Purpose.ASSISTANCE, source_ref="t:2", title="t", region=shiyan.city,
                              on=date(2024, 5, 1),
                              payees=[services.PayeeLine(source_ref="p", payee_kind="self", payee_code="X",
                                                         payee_name="X", account_name="X", bank_name="",
                                                         account_number="1", amount=Decimal("1.00"))],
                              actor=bank_staff()[0])


def test_xlsx_layout_in_the_banks_columns_with_formula_safe_text(batch):
    from io import BytesIO

    from openpyxl import load_workbook

    layout = BankFileLayout.objects.create(code="bank-b", name="B行", file_format="xlsx", columns=[
        {"header": "收款人", "field": "payee_name"}, {"header": "金额", "field": "amount"},
        {"header": "业务编号", "field": "number"}])
    ws = load_workbook(BytesIO(services.render_file(batch, layout))).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("收款人", "金额", "业务编号")
    assert rows[1][0] == "张三" and Decimal(str(rows[1][1])) == Decimal("100")
    assert rows[2][0].startswith("'=")  # never evaluated as a formula by the bank's spreadsheet
