"""Statement budgets of the person reads through the API (PERFORMANCE.md: per-request work
that does not depend on the request is not redone), with real token authentication."""
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


def test_a_filtered_list_of_a_township_agent_is_three_statements(shiyan, staff):
    for i in range(6):
        register(shiyan, township=i % 2, name=f"预算{i}")
    n, response = _count(_client(staff["agent"]), "/api/v1/persons/?search=预算&sex=M")
    assert {p["township"] for p in response.json()["results"]} == {shiyan.townships[0].code}
    assert n == 3  # the agent's township comes from the scope cache


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
