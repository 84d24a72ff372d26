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
