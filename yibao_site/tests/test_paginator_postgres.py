"""Large change lists are counted from the planner, filtered or not; small ones exactly."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from members.models import Person
from members.tests.factories import register
from yibao_site import paginator

pytestmark = pytest.mark.postgres


def test_filtered_large_list_uses_the_planner_estimate_not_count(shiyan, monkeypatch):
    for i in range(3):
        register(shiyan, township=i % 2)
    qs = Person.objects.filter(township=shiyan.townships[0]).order_by("id")
    assert paginator.EstimatedCountPaginator(qs, 50).count == 2  # below the line: exact
    monkeypatch.setattr(paginator, "EXACT_BELOW", 1)
    with CaptureQueriesContext(connection) as queries:
        estimate = paginator.EstimatedCountPaginator(qs, 50).count
    assert estimate >= 1
    assert [q["sql"].split()[0] for q in queries] == ["EXPLAIN"]
