"""Statement budgets of the person reads through the API (PERFORMANCE.md: per-request work
that does not depend on the request is not redone), with real token authentication."""
import json

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from members.models import Person
from members.serializers import PersonSerializer
from members.tests.factories import register


def _client(user):
    return APIClient(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")


def _count(client, url):
    client.get(url)  # warm the per-process caches (scope, filter form, serializer fields)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(queries), response


def test_a_person_list_page_is_three_statements_token_count_page(shiyan, staff):
    for i in range(12):
        register(shiyan, township=i % 2, name=f"预算{i}")
    n, response = _count(_client(staff["clerk"]), "/api/v1/persons/?page_size=5&page=2")
    assert response.json()["count"] == 12 and len(response.json()["results"]) == 5
    assert n == 3  # the token with its user, COUNT(*), the page with village and township joined


def test_a_filtered_list_of_a_township_agent_is_two_statements(shiyan, staff):
    for i in range(6):
        register(shiyan, township=i % 2, name=f"预算{i}")
    n, response = _count(_client(staff["agent"]), "/api/v1/persons/?search=预算&sex=M")
    assert {p["township"] for p in response.json()["results"]} == {shiyan.townships[0].code}
    assert response.json()["count"] == 3
    assert n == 2  # the token, the page (short: counted from its rows); the township from the scope cache


def test_a_short_page_is_counted_from_its_rows_and_a_full_one_by_count(shiyan, staff, monkeypatch):
    """A page with fewer rows than the page size needs no COUNT(*): its count is its offset plus
    its rows. A full page is counted; past the last page is a 404 as before; the answers are
    those of Django's own paginator."""
    from django.core.paginator import Paginator

    from yibao_site.api_base import Pagination

    for i in range(7):
        register(shiyan, township=i % 2, name=f"页{i}")
    client = _client(staff["clerk"])
    urls = ["/api/v1/persons/?page_size=3&page=3", "/api/v1/persons/?page_size=3&page=2",
            "/api/v1/persons/?page_size=10", "/api/v1/persons/?page_size=7", "/api/v1/persons/?search=页1",
            "/api/v1/persons/?search=无此人", "/api/v1/persons/?page_size=3&page=4", "/api/v1/persons/?page_size=3&page=last",
            "/api/v1/persons/?page=0", "/api/v1/persons/?page=x", "/api/v1/enrollments/", "/api/v1/claims/"]
    counted = []
    for url in urls:
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        counted.append(sum("COUNT(" in q["sql"].upper() for q in queries.captured_queries))
        assert response.status_code in (200, 404), (url, response.content)
    assert counted[:8] == [0, 1, 0, 1, 0, 0, 1, 1]
    fast = [(r.status_code, r.content) for r in (client.get(u) for u in urls)]
    with monkeypatch.context() as m:
        m.setattr(Pagination, "django_paginator_class", Paginator)
        plain = [(r.status_code, r.content) for r in (client.get(u) for u in urls)]
    assert fast == plain
    assert [json.loads(c)["count"] for s, c in fast[:6]] == [7, 7, 7, 7, 1, 0]


def test_a_person_detail_is_two_statements_token_and_the_person(shiyan, staff):
    person = register(shiyan, township=0)
    n, response = _count(_client(staff["clerk"]), f"/api/v1/persons/{person.id_number}/")
    assert response.json()["id_number"] == person.id_number and response.json()["village"]
    assert n == 2


def test_the_fast_representation_equals_drf_generic_one(shiyan, staff):
    for i in range(3):
        register(shiyan, township=i % 2, village=i // 2, name=f"同{i}")
    for p in Person.objects.select_related("village", "township"):
        ser = PersonSerializer(p)
        assert ser.data == serializers.Serializer.to_representation(PersonSerializer(p), p)
    unsaved = Person(id_number="420302198005010011", name="未存")  # no village: DRF's own path decides
    ser = PersonSerializer(unsaved)
    try:
        generic = serializers.Serializer.to_representation(PersonSerializer(unsaved), unsaved)
    except Exception as exc:  # whatever DRF does, the fast path does too
        generic = type(exc)
    try:
        fast = dict(ser.to_representation(unsaved))
    except Exception as exc:
        fast = type(exc)
    assert fast == generic


def test_a_list_answer_is_the_same_in_both_languages_after_the_form_cache(shiyan, staff):
    register(shiyan, township=0)
    client = _client(staff["clerk"])
    zh = client.get("/api/v1/persons/?sex=X").json()
    en = client.get("/api/v1/persons/?sex=X", HTTP_ACCEPT_LANGUAGE="en").json()
    assert set(zh) == set(en) == {"sex"} and zh["sex"] != en["sex"]  # messages in each caller's language


# Per-request work cut in yibao_site/api_base.py (issue 14): each path answers exactly what the
# generic one answers.

def _generic_filter_backend(monkeypatch):
    """Every request through django-filter's own filter set (no skip, no class cache)."""
    from django_filters.rest_framework import DjangoFilterBackend

    from yibao_site.api_base import FilterBackend

    monkeypatch.setattr(FilterBackend, "filter_queryset", DjangoFilterBackend.filter_queryset)
    monkeypatch.setattr(FilterBackend, "get_filterset_class", DjangoFilterBackend.get_filterset_class)


def test_a_request_naming_no_filter_answers_as_the_filter_set_would(shiyan, staff, monkeypatch):
    for i in range(7):
        register(shiyan, township=i % 2, name=f"筛{i}")
    urls = ["/api/v1/persons/", "/api/v1/persons/?page_size=3&page=2", "/api/v1/persons/?ordering=-id",
            "/api/v1/persons/?sex=M", "/api/v1/persons/?search=筛", "/api/v1/persons/?sex=X", "/api/v1/persons/?page=99",
            f"/api/v1/persons/{Person.objects.first().id_number}/", "/api/v1/enrollments/", "/api/v1/identities/",
            "/api/v1/offsite-registrations/?kind=X", "/api/v1/offsite-registrations/"]
    answers = {}
    for role in ("clerk", "agent"):
        client = _client(staff[role])
        answers[role] = [(r.status_code, r.content) for r in (client.get(u) for u in urls)]
    _generic_filter_backend(monkeypatch)
    for role in ("clerk", "agent"):
        client = _client(staff[role])
        assert [(r.status_code, r.content) for r in (client.get(u) for u in urls)] == answers[role]


def test_only_filter_sets_that_ignore_empty_values_are_skipped():
    import django_filters

    from members.api import PersonFilter
    from yibao_site.api_base import FilterBackend

    class Required(django_filters.FilterSet):
        name = django_filters.CharFilter(required=True)

        class Meta:
            model = Person
            fields = ["name"]

    class OwnFilter(django_filters.CharFilter):
        def filter(self, qs, value):
            return qs.filter(name="x")

    class Custom(django_filters.FilterSet):
        name = OwnFilter()

        class Meta:
            model = Person
            fields = ["name"]

    class OwnQueryset(django_filters.FilterSet):
        class Meta:
            model = Person
            fields = ["name"]

        def filter_queryset(self, queryset):
            return queryset.none()

    assert FilterBackend._empty_is_noop(PersonFilter)
    assert not any(FilterBackend._empty_is_noop(f) for f in (Required, Custom, OwnQueryset))


def test_the_filter_set_of_filterset_fields_is_built_once_per_view(shiyan, staff):
    from members.api import OffsiteRegistrationViewSet
    from members.models import OffsiteRegistration
    from yibao_site.api_base import FilterBackend

    backend = FilterBackend()
    view = OffsiteRegistrationViewSet()
    first = backend.get_filterset_class(view, OffsiteRegistration.objects.all())
    assert backend.get_filterset_class(OffsiteRegistrationViewSet(), OffsiteRegistration.objects.all()) is first
    assert set(first.base_filters) == {"kind", "in_province"}
    client = _client(staff["clerk"])
    client.get("/api/v1/offsite-registrations/?kind=X")
    forms = len(FilterBackend._forms)
    for _ in range(3):  # one form class per filter set and language, not one per request
        client.get("/api/v1/offsite-registrations/?kind=X")
    assert len(FilterBackend._forms) == forms


def test_cached_fields_are_fresh_per_serializer_and_equal_drfs_own(shiyan):
    from claims.serializers import ClaimSerializer
    from yibao_site.api_base import CachedFieldsMixin

    for cls in (PersonSerializer, ClaimSerializer):
        one, two = cls(), cls()
        generic = serializers.ModelSerializer.get_fields(cls())  # DRF builds them from scratch
        assert list(one.fields) == list(two.fields) == list(generic)
        for name in generic:
            a, b, g = one.fields[name], two.fields[name], generic[name]
            assert a is not b and a.parent is one and b.parent is two and type(a) is type(g)
            assert (a.required, a.read_only, a.allow_null, repr(a)) == (g.required, g.read_only, g.allow_null, repr(g))
            assert [type(v) for v in a.validators] == [type(v) for v in g.validators]
        protos = CachedFieldsMixin._field_protos
        assert all(getattr(f, "parent", None) is None for (c, _l), p in protos.items() if c is cls for f in p.values())
    # binding one serializer's field never reaches another's: each validates on its own
    bad = PersonSerializer(data={"id_number": "1", "name": "甲", "village": "x"})
    good = PersonSerializer(data={"name": "乙"}, partial=True)
    assert not bad.is_valid() and good.is_valid(), good.errors


def test_a_list_page_from_value_rows_answers_what_model_instances_answer(shiyan, staff, monkeypatch):
    """PersonViewSet.list reads the page as value tuples (issue 14): the same answer as the
    generic list over model instances — for a clerk (IDs whole) and an agent (IDs masked, one
    township), filtered, ordered, paginated, past the last page."""
    from rest_framework import mixins

    from members.api import PersonViewSet

    for i in range(7):
        register(shiyan, township=i % 2, village=i // 4, name=f"行{i}")
    urls = ["/api/v1/persons/", "/api/v1/persons/?page_size=3&page=2", "/api/v1/persons/?ordering=-name",
            "/api/v1/persons/?search=行&sex=M", "/api/v1/persons/?page=9"]
    for user in (staff["clerk"], staff["agent"], staff["supervisor"]):
        client = _client(user)
        fast = [(r.status_code, r.json()) for r in (client.get(u) for u in urls)]
        with monkeypatch.context() as m:
            m.setattr(PersonViewSet, "list", mixins.ListModelMixin.list)
            generic = [(r.status_code, r.json()) for r in (client.get(u) for u in urls)]
        assert fast == generic
        assert fast[0][0] == 200 and fast[0][1]["results"]


def test_a_value_rows_list_is_counted_without_the_joins(shiyan, staff):
    """The page's count is the model queryset's (no COUNT over person ⋈ village ⋈ township)."""
    for i in range(3):
        register(shiyan, township=i % 2, name=f"数{i}")
    client = _client(staff["clerk"])
    client.get("/api/v1/persons/")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/persons/?page_size=2").json()["count"] == 3
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "JOIN" not in counts[0].upper(), counts


def test_plain_person_reads_compile_their_statements_once_per_scope(shiyan, staff, monkeypatch):
    """A plain list page and a detail (no filter, no ordering) run statements compiled once per
    caller's scope on the connection: the next pages, other persons' details and other callers
    of the same scope compile nothing; a filter goes through the ORM as before."""
    from django.db.models.sql.compiler import SQLCompiler

    people = [register(shiyan, township=i % 2, name=f"编{i}") for i in range(5)]
    compiled = []
    as_sql = SQLCompiler.as_sql
    monkeypatch.setattr(SQLCompiler, "as_sql", lambda self, *a, **kw: compiled.append(1) or as_sql(self, *a, **kw))
    clerk, supervisor = _client(staff["clerk"]), _client(staff["supervisor"])
    clerk.get("/api/v1/persons/?page_size=2")
    clerk.get(f"/api/v1/persons/{people[0].id_number}/")
    compiled.clear()
    pages = [clerk.get(f"/api/v1/persons/?page_size=2&page={n}").json() for n in (1, 2, 3)]
    assert [p["name"] for page in pages for p in page["results"]] == [p.name for p in people]
    assert {page["count"] for page in pages} == {5}
    assert clerk.get(f"/api/v1/persons/{people[3].id_number}/").json()["name"] == people[3].name
    assert clerk.get("/api/v1/persons/420302199001310017/").status_code == 404
    assert compiled == [], len(compiled)  # the token's check is a plain statement too
    supervisor.get("/api/v1/persons/")
    clerk_scope_shared = len(compiled)
    assert clerk_scope_shared == 0  # an unbound supervisor's scope is the clerk's: the whole jurisdiction
    clerk.get("/api/v1/persons/?search=编")
    assert compiled  # a filter: through the ORM


def test_plain_person_reads_follow_a_rebound_agent_at_once(shiyan, staff):
    """The compiled statements are kept per scope: an agent moved to another township reads that
    township's persons on the next request (the scope is read from the user row each request)."""
    from yibao_site.services import staff_save

    mine, other = register(shiyan, township=0, name="甲"), register(shiyan, township=1, name="乙")
    client = _client(staff["agent"])
    assert [p["name"] for p in client.get("/api/v1/persons/").json()["results"]] == ["甲"]
    assert client.get(f"/api/v1/persons/{other.id_number}/").status_code == 404
    staff_save(username="agent", role="township_agent", township_code=shiyan.townships[1].code)
    assert [p["name"] for p in client.get("/api/v1/persons/").json()["results"]] == ["乙"]
    assert client.get(f"/api/v1/persons/{other.id_number}/").status_code == 200
    assert client.get(f"/api/v1/persons/{mine.id_number}/").status_code == 404
    agent_b = _client(staff["agent_b"])
    assert [p["name"] for p in agent_b.get("/api/v1/persons/").json()["results"]] == ["乙"]
