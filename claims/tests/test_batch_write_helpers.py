"""The settlement batch's write helpers against their plain definitions (issue 14): the
``COPY`` JSON text (orjson, the standard encoder as fallback) and the ledger columns a batch
changed (one tuple comparison a row instead of a generator per column over every row)."""
from __future__ import annotations

import json
import random
from decimal import Decimal

from claims import rules
from claims.models import RowJSONField, _compact
from claims.services.settlement import _changed_fields

_standard = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def test_compact_json_is_the_standard_compact_text():
    breakdown = {
        "tiers": {"basic": {"paid": "1234.50", "rate": "0.85", "cap": None, "capped": False, "deductible": "500.00"},
                  "critical": {"paid": "0.00"}, "assistance": {"paid": "12.30", "reason": "not_covered"},
                  "second_round": {"paid": "0.00", "scheme": "transitional"}},
        "scope_self_pay": "88.20", "ledger_delta": {"total_cost": "2000.00", "oop_m03": "765.50"},
        "coverage": {"enrollment": 123456789, "scheme": "resident", "employee_status": "", "covered": True,
                     "benefit_start": "2024-01-01", "benefit_end": "2024-12-31", "critical_illness_cap": None},
        "assistance_status": {"category": 1, "source": "低保", "tilt": True, "identity_kinds": ["subsistence"]},
        "bills": [{"item": "药品\t\"甲类\"\n", "amount": "12.00"}, {"item": "\\ \u2028 \x01 \x7f 😀", "amount": "-0.00"}],
        "chronic": {"disease": "M01", "certified": False},
        "policy": {"basic.resident.outpatient.levels": {"value": [1, 2], "row": 17}},
    }
    assert _compact(breakdown) == _standard(breakdown)
    # what orjson refuses (a non-str key, an int past 64 bits) takes the standard encoder
    for odd in ({1: "a", "b": [2 ** 70]}, {"big": -(2 ** 64) - 1}, {"k": (1, "两")}):
        assert _compact(odd) == _standard(odd)


def test_copy_text_splices_the_shared_policy_record():
    field = RowJSONField()
    shared = {"a.b": {"value": "0.85", "row": 3}}
    value = {"tiers": {"basic": {"paid": "1.00"}}, "policy": shared, "scope_self_pay": "0.00"}
    memo: dict = {}
    first, second = field.copy_text(value, memo), field.copy_text(dict(value), memo)
    assert first == second
    assert json.loads(first) == value


def test_changed_fields_is_any_row_differing_per_field():
    rng = random.Random(14)
    names = rules.LEDGER_FIELDS
    for trial in range(300):
        rows, states = {}, {}
        touched = rng.sample(names, rng.randint(0, len(names)))
        for key in range(rng.randint(1, 12)):
            values = {n: Decimal(rng.randint(0, 3)) / 100 for n in names}
            row = type("Row", (), {})()
            for n, v in values.items():
                setattr(row, n, v)
            state = dict(values)
            for n in touched:
                if rng.random() < 0.3:  # sometimes a change, sometimes an equal value of another exponent
                    state[n] = values[n] + Decimal(rng.choice(["0.01", "0", "0.000"]))
            rows[key], states[key] = row, state
        expected = [n for n in names if any(states[k][n] != getattr(r, n) for k, r in rows.items())]
        assert _changed_fields(rows, states) == expected, trial
