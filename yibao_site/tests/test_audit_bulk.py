import pytest

from yibao_site.audit import COPY_THRESHOLD, bulk_create_audited
from yibao_site.models import PolicyParameter, Region


@pytest.mark.parametrize("count", [3, COPY_THRESHOLD + 50])
def test_bulk_create_leaves_one_history_row_each_with_actor_and_reason(shiyan, staff, count):
    """Small batches go through simple-history; large ones through COPY on PostgreSQL."""
    from datetime import date, timedelta

    params = [PolicyParameter(region=shiyan.county, key="test.bulk.value", value=str(i),
                              effective_from=date(2020, 1, 1) + timedelta(days=i)) for i in range(count)]
    created = bulk_create_audited(params, PolicyParameter, actor=staff["supervisor"], reason="批量测试")
    assert all(p.pk for p in created)
    stored = PolicyParameter.objects.filter(key="test.bulk.value")
    assert stored.count() == count
    assert sorted(int(v) for v in stored.values_list("value", flat=True)) == list(range(count))
    history = PolicyParameter.history.filter(key="test.bulk.value")
    assert history.count() == count
    assert set(history.values_list("history_user", "history_change_reason", "history_type")) == {
        (staff["supervisor"].pk, "批量测试", "+")}
    assert set(history.values_list("id", flat=True)) == {p.pk for p in created}
    # The sequence moved on: an ordinary save afterwards gets a fresh key.
    extra = Region.objects.create(code="420302099", name="后加镇", level="township", parent=shiyan.county,
                                  path=f"{shiyan.county.path}420302099/")
    assert extra.pk
    PolicyParameter.objects.create(region=shiyan.county, key="test.bulk.after", value="1", effective_from=date(2030, 1, 1))


@pytest.mark.parametrize("count", [3, COPY_THRESHOLD + 50])
def test_bulk_update_writes_the_values_and_one_change_history_row_each(shiyan, staff, count):
    """Small batches go through simple-history; large ones, on PostgreSQL, through COPY into a
    temporary table and one ``UPDATE … FROM``: the same rows and the same history."""
    from datetime import date, timedelta

    from yibao_site.audit import bulk_update_audited

    params = bulk_create_audited(
        [PolicyParameter(region=shiyan.county, key="test.bulk.update", value=str(i),
                         effective_from=date(2020, 1, 1) + timedelta(days=i)) for i in range(count)],
        PolicyParameter, reason="建")
    params = list(PolicyParameter.objects.filter(key="test.bulk.update").order_by("pk"))
    for p in params:
        p.value = str(int(p.value) * 10)
    untouched = params[-1]
    changed = params[:-1] + [params[0]]  # one object twice: written once, with its values
    assert bulk_update_audited(changed, PolicyParameter, ["value"], actor=staff["supervisor"], reason="批量改") in (
        count - 1, count)
    stored = dict(PolicyParameter.objects.filter(key="test.bulk.update").values_list("pk", "value"))
    assert stored[untouched.pk] == str((count - 1))
    assert all(stored[p.pk] == str(int(p.value)) for p in params[:-1])
    history = PolicyParameter.history.filter(key="test.bulk.update", history_type="~")
    assert set(history.values_list("history_user", "history_change_reason")) == {(staff["supervisor"].pk, "批量改")}
    assert {h.id: h.value for h in history} == {p.pk: p.value for p in params[:-1]}
