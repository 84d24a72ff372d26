"""Members imports through a region-bound member of staff: only persons in their region.

A window clerk bound to one county imports enrolments and identities; a person of another
county in the file reads as not there ("不存在或不在您的辖区") and the file writes nothing,
whether the actor comes with the importer or with ``run`` (the background job's door), on
SQLite (batch look-ups) and PostgreSQL (the whole file looked up first).  Bureau-wide staff
and jobs without a user import for the whole jurisdiction."""
import pytest

from members.models import Enrollment, Identity
from yibao_site.imports import importer_for, read_table

from .factories import register
from .test_importers import csv_bytes

ENROL = ["person", "year", "scheme", "employee_status", "paid_on", "amount", "contribution_base", "via"]
IDENT = ["person", "kind", "valid_from", "valid_to", "source"]


@pytest.fixture
def county_clerk(yicheng):
    from yibao_site.services import staff_save

    return staff_save(username="yc-clerk", role="window_clerk", region_code=yicheng.county.code)


def _enrol(*persons):
    return csv_bytes(ENROL, [[p.id_number, 2026, "resident", "", "2025-11-01", "", "", ""] for p in persons])


def _ident(*persons):
    return csv_bytes(IDENT, [[p.id_number, "subsistence", "2025-01-01", "", "civil_affairs"] for p in persons])


@pytest.mark.parametrize("by", ["importer", "run"])
@pytest.mark.parametrize("resource,data,model", [("enrollments", _enrol, Enrollment), ("identities", _ident, Identity)])
def test_a_county_clerk_imports_only_persons_of_their_county(shiyan, yicheng, county_clerk, by, resource, data, model):
    own, other = register(yicheng), register(shiyan)
    importer = importer_for(resource)(user=county_clerk) if by == "importer" else importer_for(resource)()
    kwargs = {} if by == "importer" else {"actor": county_clerk}
    report = importer.run(read_table(data(own, other), filename="x.csv"), **kwargs)
    assert not report.ok
    assert [(e.row, e.field) for e in report.errors] == [(3, "person")]
    assert "不在您的辖区" in str(report.errors[0]) and other.id_number in str(report.errors[0])
    assert not model.objects.filter(person__in=[own, other]).exists()  # the file writes nothing

    report = importer_for(resource)().run(read_table(data(own), filename="x.csv"), actor=county_clerk)
    assert report.ok and report.created == 1


def test_bureau_wide_staff_and_jobs_import_for_the_whole_jurisdiction(shiyan, yicheng, staff):
    a, b = register(yicheng), register(shiyan)
    report = importer_for("enrollments")().run(read_table(_enrol(a, b), filename="x.csv"), actor=staff["clerk"])
    assert report.ok and report.created == 2
    report = importer_for("identities")().run(read_table(_ident(a, b), filename="x.csv"))  # no user: a job
    assert report.ok and report.created == 2


def test_a_county_clerk_registers_persons_only_in_villages_of_their_county(shiyan, yicheng, county_clerk):
    from members.models import Person

    from .test_importers import HEADER, person_rows

    importer = importer_for("persons")()
    report = importer.run(read_table(csv_bytes(HEADER, person_rows(shiyan)), filename="x.csv"), actor=county_clerk)
    assert not report.ok and {e.field for e in report.errors} == {"village"}
    assert not Person.objects.exists()
    report = importer_for("persons")().run(read_table(csv_bytes(HEADER, person_rows(yicheng)), filename="x.csv"),
                                           actor=county_clerk)
    assert report.ok and report.created == 3


def test_a_county_clerk_cannot_move_a_person_of_another_county_into_theirs(shiyan, yicheng, county_clerk):
    from .test_importers import HEADER

    other = register(shiyan)
    rows = [[other.id_number, other.name, yicheng.village(0, 0).code, "", ""]]
    report = importer_for("persons")().run(read_table(csv_bytes(HEADER, rows), filename="x.csv"), actor=county_clerk)
    assert [(e.row, e.field) for e in report.errors] == [(2, "id_number")]
    assert "不在您的辖区" in str(report.errors[0])
    other.refresh_from_db()
    assert other.village.code == shiyan.village(0, 0).code


@pytest.mark.postgres
def test_the_server_side_persons_door_declines_villages_out_of_scope(shiyan, yicheng, county_clerk):
    """A plain CSV of 200+ new persons in another county's villages: the PostgreSQL door
    finds the villages out of the clerk's scope, declines, and the Python path reports them."""
    from datetime import date

    from members.models import Person
    from yibao_site.audit import COPY_THRESHOLD
    from yibao_site.testing import make_id_number

    from .test_importers import HEADER

    rows = [[make_id_number("420302", date(1970, 1, 1 + i % 28), 100 + i), f"人{i}", shiyan.village(i % 2, 0).code,
             "", ""] for i in range(COPY_THRESHOLD + 10)]
    report = importer_for("persons")().run_file(csv_bytes(HEADER, rows).removeprefix(b"\xef\xbb\xbf"), "x.csv",
                                                actor=county_clerk)
    assert not report.ok and {e.field for e in report.errors} == {"village"}
    assert not Person.objects.exists()
