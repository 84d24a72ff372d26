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
    assert estimate >= 2  # never below what the capped count saw
    kinds = [q["sql"].split()[0] for q in queries]
    assert kinds == ["SELECT", "EXPLAIN"]
    assert "LIMIT 2" in queries[0]["sql"]  # the count stops at EXACT_BELOW + 1 rows


def test_a_filtered_list_below_the_line_is_counted_exactly_with_a_capped_count(shiyan, monkeypatch):
    for i in range(3):
        register(shiyan, township=0)
    monkeypatch.setattr(paginator, "EXACT_BELOW", 3)
    qs = Person.objects.filter(township=shiyan.townships[0]).order_by("id")
    with CaptureQueriesContext(connection) as queries:
        assert paginator.EstimatedCountPaginator(qs, 50).count == 3
    assert len(queries) == 1 and "LIMIT 4" in queries[0]["sql"]


def test_an_unfiltered_small_table_is_counted_exactly(shiyan):
    register(shiyan, township=0)
    assert paginator.EstimatedCountPaginator(Person.objects.order_by("id"), 50).count == Person.objects.count()
