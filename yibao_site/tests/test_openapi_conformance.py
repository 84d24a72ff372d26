"""Real API answers match the published OpenAPI schema (issue 13 item 6).

Each case here is one the Schemathesis stage of CI (scripts/fuzz.sh) found, or the kind of case it
found: a column that is null or "" before a step happens, a list returned bare while the schema
says paginated, a 200 where the schema promised only 201, an error whose shape was not published.
``assert_conforms`` validates a test-client response against the schema drf-spectacular generates,
the way a generated client (or Schemathesis) reads it.
"""
from __future__ import annotations

import functools
from datetime import date
from decimal import Decimal

import jsonschema
import pytest
from rest_framework import serializers

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"yibao_site", "members", "claims", "chronic", "assistance", "procurement", "payments"}


@functools.lru_cache(maxsize=1)
def _document() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return _to_json_schema(SchemaGenerator().get_schema(request=None, public=True))


def _to_json_schema(node):
    """OpenAPI 3.0 ``nullable: true`` → JSON Schema's ``anyOf [..., null]`` (everything else is the same)."""
    if isinstance(node, list):
        return [_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


def assert_conforms(response, path: str, method: str) -> None:
    """``response``'s status is documented for ``method path`` and its JSON body fits that response's schema."""
    doc = _document()
    responses = doc["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in responses, f"{method.upper()} {path} answered {status}; the schema lists {sorted(responses)}"
    schema = responses[status].get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    root = {**doc, "allOf": [schema]}
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in jsonschema.Draft7Validator(root).iter_errors(response.json())]
    assert not errors, f"{method.upper()} {path} {status} does not match the schema:\n" + "\n".join(errors[:10])


def _project_model_serializers():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    import django.apps

    for app in django.apps.apps.get_app_configs():  # import every serializer module
        if app.name.split(".")[0] in PROJECT_APPS:
            try:
                __import__(f"{app.name}.serializers")
            except ModuleNotFoundError:
                pass
    return sorted({s for s in subclasses(serializers.ModelSerializer) if s.__module__.split(".")[0] in PROJECT_APPS},
                  key=lambda s: f"{s.__module__}.{s.__name__}")


def test_every_serializer_field_is_as_nullable_and_blank_as_its_column():
    """A nullable column must be a nullable field, a blank choice column must allow "":
    Delivery.accepted_amount/mismatch (null before acceptance), a warning's determined_department
    ("" before determination; ``read_only_fields`` silently drops ``allow_blank``), an application's
    owner and means-test amounts, a certification's owner and decider were not."""
    wrong = []
    for cls in _project_model_serializers():
        model = cls.Meta.model
        for name, field in cls().fields.items():
            if isinstance(field, (serializers.SerializerMethodField, serializers.ManyRelatedField)) or \
                    not field.source or "." in field.source or field.source == "*":
                continue
            try:
                column = model._meta.get_field(field.source)
            except Exception:
                continue
            if not column.concrete or column.many_to_many:
                continue
            if column.null and not field.allow_null:
                wrong.append(f"{cls.__module__}.{cls.__name__}.{name}: column null=True, field not allow_null")
            if (column.blank and column.choices and isinstance(field, serializers.ChoiceField)
                    and not field.allow_blank and "" not in field.choices):
                wrong.append(f"{cls.__module__}.{cls.__name__}.{name}: column blank=True, field not allow_blank")
    assert not wrong, "\n".join(wrong)


def test_an_unaccepted_delivery_reads_back_as_the_schema_says(shiyan, staff, api):
    from procurement.tests.conftest import build_world

    world = build_world(shiyan)
    delivery = world.deliver()  # 100 × 12.34, not accepted yet
    client = api(staff["finance"])
    r = client.get(f"/api/v1/deliveries/{delivery.pk}/")
    assert r.status_code == 200 and r.json()["accepted_amount"] is None and r.json()["mismatch"] is None
    assert_conforms(r, "/api/v1/deliveries/{id}/", "get")
    assert_conforms(client.get("/api/v1/deliveries/"), "/api/v1/deliveries/", "get")


def test_relatives_are_a_paginated_list_and_adding_one_answers_201(shiyan, staff, api):
    """API.md: lists are paginated; the endpoint returned a bare JSON list and its POST a 201 the
    schema did not list (it promised 200)."""
    from claims.tests import factories as f

    parent, child = f.insured(shiyan, birth=date(1960, 1, 1)), f.insured(shiyan, birth=date(1990, 1, 1))
    client = api(staff["clerk"])
    url, template = f"/api/v1/persons/{parent.id_number}/relatives/", "/api/v1/persons/{id_number}/relatives/"
    added = client.post(url, {"relative": child.id_number, "relation": "child"})
    assert added.status_code == 201, added.json()
    assert_conforms(added, template, "post")
    listed = client.get(url)
    assert listed.json()["count"] == 1 and listed.json()["results"][0]["relative"] == child.id_number
    assert_conforms(listed, template, "get")
    assert client.get(url, {"page_size": 1, "page": 2}).status_code == 404  # past the end, as any list


def test_an_open_warning_has_a_blank_department_the_schema_allows(shiyan, staff, api):
    from assistance.early_warning import services
    from assistance.early_warning.tests.helpers import identity, ledger, person

    p = person(shiyan)
    identity(p, "marginal")
    ledger(p, 2024, m01="8000.01")  # over the marginal line of 8 000.00
    services.warning_run(region=shiyan.city, month=date(2024, 3, 1), actor=services.SYSTEM)
    r = api(staff["supervisor"]).get("/api/v1/warnings/")
    assert r.json()["count"] == 1 and r.json()["results"][0]["determined_department"] == ""
    assert_conforms(r, "/api/v1/warnings/", "get")


def test_a_filed_application_and_certification_read_back_as_the_schema_says(shiyan, staff, api):
    """Drafts: nobody decided yet, no means test yet (null owner/decider/amounts)."""
    from assistance import services as assistance
    from chronic import services as chronic
    from claims.tests import factories as f

    agent = staff["agent"]
    app = assistance.application_create(actor=agent, person=f.insured(shiyan), kind="determination",
                                        basis="illness_poverty")
    cert = chronic.certification_create(actor=agent, person=f.insured(shiyan), disease="M00501", diagnosis="C34.9")
    client = api(agent)
    r = client.get(f"/api/v1/assistance/applications/{app.pk}/")
    assert r.status_code == 200 and r.json()["means_oop"] is None and r.json()["decided_by"] is None
    assert_conforms(r, "/api/v1/assistance/applications/{id}/", "get")
    r = client.get(f"/api/v1/chronic-certifications/{cert.pk}/")
    assert r.status_code == 200 and r.json()["decided_by"] is None
    assert_conforms(r, "/api/v1/chronic-certifications/{id}/", "get")


def test_running_a_month_again_answers_a_documented_200(shiyan, staff, api):
    """warning-runs/ and payment-runs/ answer 201 the first time and 200 (same run) after; the
    schema listed only 201."""
    client = api(staff["supervisor"])
    body = {"region": shiyan.city.code, "month": "2024-03"}
    first, again = client.post("/api/v1/warning-runs/", body), client.post("/api/v1/warning-runs/", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert_conforms(first, "/api/v1/warning-runs/", "post")
    assert_conforms(again, "/api/v1/warning-runs/", "post")
    finance = api(staff["finance"])
    first, again = (finance.post("/api/v1/payment-runs/", {"as_of": "2024-03-10"}) for _ in range(2))
    assert (first.status_code, again.status_code) == (201, 200)
    assert_conforms(first, "/api/v1/payment-runs/", "post")
    assert_conforms(again, "/api/v1/payment-runs/", "post")


def test_error_answers_are_documented_with_their_shapes(shiyan, staff, api):
    """400 ``{"field": [...]}``, 401/403/404/413 ``{"detail": ...}`` (API.md "Bad input"), on every operation."""
    from claims.tests import factories as f

    outside = f.insured(shiyan, township=1)  # the agent's township is the first one
    agent = api(staff["agent"])
    r = agent.get(f"/api/v1/persons/{outside.id_number}/")
    assert r.status_code == 404
    assert_conforms(r, "/api/v1/persons/{id_number}/", "get")
    r = agent.post("/api/v1/policy-parameters/", {"key": "x"})
    assert r.status_code == 403
    assert_conforms(r, "/api/v1/policy-parameters/", "post")
    r = api().get("/api/v1/claims/")
    assert r.status_code == 401
    assert_conforms(r, "/api/v1/claims/", "get")
    r = api(staff["supervisor"]).post("/api/v1/warning-runs/", {"region": shiyan.city.code, "month": "2024-13"})
    assert r.status_code == 400 and "month" in r.json()
    assert_conforms(r, "/api/v1/warning-runs/", "post")
    r = api(staff["supervisor"]).get("/api/v1/claims/", {"person": "\x00"})
    assert r.status_code == 400
    assert_conforms(r, "/api/v1/claims/", "get")


def test_actions_that_create_answer_a_documented_201(shiyan, staff, api, settings, tmp_path):
    """Uploading a material and reversing a claim answer 201 (something new exists); the schema
    said 200 for these actions (and for payout, correct, pay-relative-premium, done the same way)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from assistance import services as assistance
    from claims import services as claims
    from claims.tests import factories as f

    settings.MEDIA_ROOT = tmp_path / "media"
    agent = staff["agent"]
    app = assistance.application_create(actor=agent, person=f.insured(shiyan), kind="determination",
                                        basis="illness_poverty")
    pdf = SimpleUploadedFile("诊断证明.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
                             content_type="application/pdf")
    r = api(agent).post(f"/api/v1/assistance/applications/{app.pk}/materials/",
                        {"material_type": "other", "file": pdf}, format="multipart")
    assert r.status_code == 201, r.json()
    assert_conforms(r, "/api/v1/assistance/applications/{id}/materials/", "post")

    claim = claims.claim_settle(person=f.insured(shiyan), visit_type="outpatient", hospital_level=1,
                                service_date=date(2024, 5, 6), total_cost=Decimal("300.00"),
                                policy_scope_cost=Decimal("250.00"), actor=staff["clerk"])
    r = api(staff["clerk"]).post(f"/api/v1/claims/{claim.pk}/reverse/", {"reason": "重复录入"})
    assert r.status_code == 201, r.json()
    assert_conforms(r, "/api/v1/claims/{id}/reverse/", "post")


def test_a_nul_byte_in_a_form_field_is_a_400_not_a_500(shiyan, staff, api):
    """Found by the fuzzer on PostgreSQL: ``person=%00…`` form-encoded to applications/ reached
    the database (the JSON parser refused it, the form parser did not)."""
    for user, url in ((staff["agent"], "/api/v1/assistance/applications/"),
                      (staff["agent"], "/api/v1/chronic-certifications/")):
        r = api(user).post(url, "person=%00abc&category=1", content_type="application/x-www-form-urlencoded")
        assert r.status_code == 400 and "person" in r.json(), r.content
        assert_conforms(r, url, "post")
