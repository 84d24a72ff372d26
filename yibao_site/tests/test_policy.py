from datetime import date
from decimal import Decimal

import pytest

from yibao_site.models import PolicyParameter
from yibao_site.packs import pack_load
from yibao_site.policy import PolicyMissing, policy_decimal, policy_snapshot, policy_value
from yibao_site.services import policy_parameter_save


def test_value_in_force_on_a_date_is_the_latest_effective_one(shiyan):
    assert policy_decimal("members.premium.resident", shiyan.city, date(2023, 12, 31)) == Decimal("350")
    assert policy_decimal("members.premium.resident", shiyan.city, date(2024, 1, 1)) == Decimal("380")


def test_village_falls_back_to_the_city_and_a_county_override_wins(shiyan):
    village = shiyan.village(0, 0)
    assert policy_decimal("critical.resident.threshold", village, date(2024, 5, 1)) == Decimal("15000")
    policy_parameter_save(region=shiyan.county, key="critical.resident.threshold", value="12000",
                          effective_from=date(2024, 1, 1))
    assert policy_decimal("critical.resident.threshold", village, date(2024, 5, 1)) == Decimal("12000")
    assert policy_decimal("critical.resident.threshold", village, date(2023, 5, 1)) == Decimal("15000")
    assert policy_decimal("critical.resident.threshold", shiyan.city, date(2024, 5, 1)) == Decimal("15000")


def test_missing_parameter_is_a_clear_error(shiyan):
    with pytest.raises(PolicyMissing):
        policy_value("no.such.key", shiyan.city, date(2024, 1, 1))
    assert policy_value("no.such.key", shiyan.city, date(2024, 1, 1), default=None) is None


def test_loading_a_pack_twice_changes_nothing(shiyan):
    before = PolicyParameter.history.count()
    report = pack_load(name="shiyan-2022", region=shiyan.city)
    assert report.created == 0 and report.changed == 0 and report.unchanged > 100
    assert PolicyParameter.history.count() == before


def test_snapshot_records_what_it_used_and_its_version(shiyan):
    snap = policy_snapshot(shiyan.township_of if hasattr(shiyan, "township_of") else shiyan.townships[0], date(2024, 3, 1))
    snap.decimal("basic.resident.inpatient.rate.l2")
    assert list(snap.used_record()) == ["basic.resident.inpatient.rate.l2"]
    assert snap.version.startswith("shiyan-2022#")


def test_the_policy_token_sql_is_built_once_and_names_both_history_tables(db):
    """Built once per vendor (issue 14: each ``Model.history`` access builds a manager class)."""
    from django.db import connection

    from yibao_site import policy
    from yibao_site.models import PolicyParameter, Region

    policy._TOKEN_SQL.clear()
    first = policy.shared_policy_token_sql()
    assert policy.shared_policy_token_sql() is first and set(policy._TOKEN_SQL) == {connection.vendor}
    for model in (PolicyParameter, Region):
        assert connection.ops.quote_name(model.history.model._meta.db_table) in first
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {first}")
        assert len(cursor.fetchone()) == 4


def test_decimal_memo_is_shared_by_forks_and_records_every_use():
    from yibao_site.policy import ParameterInForce, PolicySnapshot

    rate = ParameterInForce("r", "0.85", "420300", date(2024, 1, 1), "p", 1)
    base = PolicySnapshot("420300", date(2024, 1, 1), {"r": rate, "bad": ParameterInForce(
        "bad", "x", "420300", date(2024, 1, 1), "p", 2)})
    first = base.fork()
    assert first.decimal("r") == Decimal("0.85") and first.used == {"r": rate}
    second = base.fork()
    assert second.used == {}
    value = second.decimal("r")
    assert value == Decimal("0.85") and str(value) == "0.85" and second.used == {"r": rate}
    assert second.decimal("missing", None) is None and "missing" not in second.used
    with pytest.raises(PolicyMissing):
        second.decimal("bad")
    # a snapshot whose parameter is another row does not take the memoised value
    other = PolicySnapshot("420300", date(2025, 1, 1), {"r": ParameterInForce(
        "r", "0.90", "420300", date(2025, 1, 1), "p", 3)})
    other._decimals = base._decimals
    assert other.decimal("r") == Decimal("0.90")
