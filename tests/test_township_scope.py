"""A township agent reaches nothing outside their township — through the API, search,
exports, guessed URLs and the admin (DOMAIN.md §1, API.md: unseen is 404, seen but not
allowed is 403)."""
from datetime import date

import pytest

from members.services import enrollment_create, identity_add, person_register
from yibao_site.testing import make_id_number
from members.testing import clerk


@pytest.fixture
def two_persons(shiyan, staff):
    own = person_register(actor=clerk(), id_number=make_id_number("420302", date(1960, 3, 1), 1), name="张本镇",
                          village_code=shiyan.village(0, 0).code)
    other = person_register(actor=clerk(), id_number=make_id_number("420302", date(1961, 4, 2), 2), name="李外镇",
                            village_code=shiyan.village(1, 0).code)
    for p in (own, other):
        enrollment_create(actor=clerk(), person=p, year=2026, scheme="resident", paid_on=date(2025, 10, 1))
        identity_add(actor=clerk(), person=p, kind="subsistence", valid_from=date(2025, 1, 1), source="civil_affairs")
    return own, other


def test_agent_lists_and_searches_only_their_township(two_persons, staff, api):
    own, other = two_persons
    client = api(staff["agent"])
    listed = client.get("/api/v1/persons/?page_size=100").json()
    assert [p["name"] for p in listed["results"]] == ["张本镇"]
    assert client.get("/api/v1/persons/?search=李").json()["count"] == 0
    assert client.get(f"/api/v1/persons/?search={other.id_number}").json()["count"] == 0
    for url in ["/api/v1/enrollments/", "/api/v1/identities/"]:
        body = client.get(url + "?page_size=100").json()
        assert body["count"] == 1, url


def test_guessed_urls_outside_the_township_are_404(two_persons, staff, api):
    own, other = two_persons
    client = api(staff["agent"])
    assert client.get(f"/api/v1/persons/{own.id_number}/").status_code == 200
    assert client.get(f"/api/v1/persons/{other.id_number}/").status_code == 404
    assert client.get(f"/api/v1/persons/{other.id_number}/relatives/").status_code == 404
    assert client.patch(f"/api/v1/persons/{other.id_number}/", {"phone": "13800000000"}).status_code == 404
    enrollment = other.enrollments.get()
    assert client.get(f"/api/v1/enrollments/{enrollment.pk}/").status_code == 404


def test_agent_may_see_but_not_register_people(two_persons, shiyan, staff, api):
    response = api(staff["agent"]).post("/api/v1/persons/", {
        "id_number": make_id_number("420302", date(1970, 1, 1), 9), "name": "王新", "village": shiyan.village(0, 1).code})
    assert response.status_code == 403


def test_the_other_townships_agent_sees_the_mirror_image(two_persons, staff, api):
    names = [p["name"] for p in api(staff["agent_b"]).get("/api/v1/persons/").json()["results"]]
    assert names == ["李外镇"]


def test_staff_of_the_bureau_see_the_whole_jurisdiction(two_persons, staff, api):
    assert api(staff["clerk"]).get("/api/v1/persons/").json()["count"] == 2


def test_agent_has_no_admin_door_at_all(two_persons, staff, client):
    own, other = two_persons
    client.force_login(staff["agent"])
    for url in ["/admin/members/person/", f"/admin/members/person/{other.pk}/change/",
                f"/admin/members/person/?q={other.name}", "/admin/members/person/export/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_seen_but_not_allowed_is_403(two_persons, staff, api):
    own, _other = two_persons
    assert api(staff["agent"]).patch(f"/api/v1/persons/{own.id_number}/", {"phone": "13800000000"}).status_code == 403
