"""Regions and policy parameters through the API: roles, township scope, the error format,
nothing half-written, every change audited."""
import logging

from django.urls import reverse

from yibao_site.logging import MaskPersonalDataFilter
from yibao_site.models import PolicyParameter, Region


def test_agent_sees_only_their_township_and_its_villages(shiyan, staff, api):
    client = api(staff["agent"])
    codes = {r["code"] for r in client.get("/api/v1/regions/?page_size=100").json()["results"]}
    own = shiyan.townships[0]
    assert codes == {own.code, *(v.code for v in shiyan.villages[own.code])}
    other_village = shiyan.village(1, 0)
    assert client.get(f"/api/v1/regions/{other_village.code}/").status_code == 404
    assert client.get(f"/api/v1/regions/{shiyan.city.code}/").status_code == 404
    assert client.get(f"/api/v1/regions/?within={shiyan.townships[1].code}").json()["count"] == 0


def test_agent_cannot_read_policy_or_write_regions(shiyan, staff, api):
    client = api(staff["agent"])
    assert client.get("/api/v1/policy-parameters/").status_code == 403
    response = client.post("/api/v1/regions/", {"code": "420302009", "name": "新镇", "level": "township",
                                                "parent": shiyan.county.code})
    assert response.status_code == 403


def test_agent_cannot_enter_the_admin_even_by_a_guessed_url(shiyan, staff, client):
    client.force_login(staff["agent"])
    region = shiyan.village(1, 0)
    for url in ["/admin/", f"/admin/yibao_site/region/{region.pk}/change/", "/admin/yibao_site/region/?q=第2镇",
                "/admin/yibao_site/region/export/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_clerk_may_read_but_not_write_policy(shiyan, staff, api):
    client = api(staff["clerk"])
    assert client.get("/api/v1/policy-parameters/?key=members.premium.resident&region=420300").json()["count"] == 6
    assert client.post("/api/v1/policy-parameters/", {}).status_code == 403


def test_bad_region_gets_field_errors_in_chinese_and_writes_nothing(shiyan, staff, api):
    client = api(staff["supervisor"])
    before = Region.objects.count()
    response = client.post("/api/v1/regions/", {"code": "12ab", "name": "", "level": "planet", "parent": "999"})
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"code", "name", "level", "parent"}
    assert "对象不存在" in body["parent"][0] or "不存在" in body["parent"][0]
    assert Region.objects.count() == before


def test_errors_are_in_english_on_request(shiyan, staff, api):
    response = api(staff["supervisor"], language="en").post("/api/v1/regions/", {"code": "110100", "level": "city"})
    assert response.status_code == 400
    assert response.json()["name"] == ["This field is required."]


def test_bad_policy_parameter_gets_400_and_writes_nothing(shiyan, staff, api):
    client = api(staff["supervisor"])
    before = PolicyParameter.objects.count()
    for payload in [
        {"region": "420300", "key": "Not A Key", "value": "1", "effective_from": "2024-01-01"},
        {"region": "000000", "key": "a.b", "value": "1", "effective_from": "2024-01-01"},
        {"region": "420300", "key": "a.b", "value": 0.85, "effective_from": "2024-01-01"},
        {"region": "420300", "key": "a.b", "value": "1", "effective_from": "2024-13-01"},
    ]:
        response = client.post("/api/v1/policy-parameters/", payload, format="json")
        assert response.status_code == 400, payload
        assert set(response.json()) <= {"region", "key", "value", "effective_from", "detail"}
    assert PolicyParameter.objects.count() == before


def test_supervisor_change_of_a_parameter_is_audited_with_actor(shiyan, staff, api):
    client = api(staff["supervisor"])
    response = client.post("/api/v1/policy-parameters/", {
        "region": shiyan.county.code, "key": "critical.resident.threshold", "value": "12000",
        "effective_from": "2026-01-01", "source": "县医保局2026年文件"}, format="json")
    assert response.status_code == 201, response.json()
    record = PolicyParameter.history.latest("history_date")
    assert record.history_user == staff["supervisor"] and record.history_type == "+"
    assert record.value == "12000" and record.history_change_reason


def test_region_creation_and_rename_are_audited(shiyan, staff, api):
    client = api(staff["supervisor"])
    assert client.post("/api/v1/regions/", {"code": "420302009", "name": "新镇", "level": "township",
                                            "parent": shiyan.county.code}).status_code == 201
    assert client.patch("/api/v1/regions/420302009/", {"name": "新城镇"}).status_code == 200
    history = Region.history.filter(code="420302009").order_by("history_date")
    assert [h.name for h in history] == ["新镇", "新城镇"]
    assert all(h.history_user == staff["supervisor"] for h in history)
    assert Region.objects.get(code="420302009").path == f"{shiyan.county.path}420302009/"


def test_tokens_work_and_can_be_revoked(shiyan, staff, api):
    session = api(staff["clerk"])
    key = session.post("/api/v1/auth/token/").json()["token"]
    from rest_framework.test import APIClient

    token_client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert token_client.get("/api/v1/regions/").status_code == 200
    assert token_client.delete("/api/v1/auth/token/").status_code == 204
    assert token_client.get("/api/v1/regions/").status_code == 401


def test_login_is_locked_after_repeated_failures(shiyan, staff, client, settings):
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(url, {"username": "clerk", "password": "wrong"})
    response = client.post(url, {"username": "clerk", "password": "Yb-test-pass-2026"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_schema_and_docs_are_served(shiyan, staff, client):
    client.force_login(staff["supervisor"])
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_logs_never_carry_an_id_number_or_phone():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "person %s phone %s", ("420302199001011234", "13812345678"), None)
    MaskPersonalDataFilter().filter(record)
    assert record.getMessage() == "person 420302********1234 phone 138****5678"


def test_supervisor_reads_the_audit_log_and_a_clerk_cannot(shiyan, staff, client, api):
    api(staff["supervisor"]).patch(f"/api/v1/regions/{shiyan.townships[0].code}/", {"name": "改名镇"})
    client.force_login(staff["supervisor"])
    page = client.get("/admin/audit/?user=supervisor")
    assert page.status_code == 200 and "改名镇" in page.content.decode()
    client.force_login(staff["clerk"])
    assert client.get("/admin/audit/").status_code == 403


def test_token_authentication_answers_as_drfs_own(db, shiyan, staff):
    """yibao_site.authentication reads the token's user in one statement (issue 14): the same
    user, token, errors and messages as DRF's TokenAuthentication."""
    from rest_framework import authentication, exceptions
    from rest_framework.authtoken.models import Token

    from yibao_site.authentication import TokenAuthentication

    def outcome(cls, key):
        try:
            user, token = cls().authenticate_credentials(key)
        except exceptions.AuthenticationFailed as exc:
            return ("failed", str(exc.detail))
        # every column of the user as loaded (a datetime through the backend's converters),
        # the instance's state, the token and its link to the user
        return (tuple((f.attname, repr(getattr(user, f.attname))) for f in user._meta.concrete_fields),
                type(user), user._state.db, user._state.adding, token.pk, token.user_id, token.user is user,
                token.created)

    clerk, agent = staff["clerk"], staff["agent"]
    from django.utils import timezone

    type(clerk).objects.filter(pk=clerk.pk).update(last_login=timezone.now())
    keys = [Token.objects.get_or_create(user=u)[0].key for u in (clerk, agent)]
    type(agent).objects.filter(pk=agent.pk).update(is_active=False)
    for key in [*keys, "0" * 40, keys[0].upper(), "", "x' OR '1'='1"]:
        assert outcome(TokenAuthentication, key) == outcome(authentication.TokenAuthentication, key), key
    assert outcome(TokenAuthentication, keys[1]) == ("failed", str(exceptions.AuthenticationFailed(
        authentication._("User inactive or deleted.")).detail))


def test_a_bad_token_is_401_through_the_api(db, shiyan, staff):
    from rest_framework.test import APIClient

    response = APIClient(HTTP_AUTHORIZATION="Token " + "0" * 40).get("/api/v1/persons/")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
