"""The persons import's server-side door (``PersonImporter.server_side``, PostgreSQL): a plain CSV
of new persons is checked and written by the server, and what it writes — persons and their
history — is what the Python path writes for the same file; any file it cannot be sure of
(a bad row, an update, a file that is not plain) goes the Python way, with its row-numbered
report."""
import io
from datetime import date, timedelta

import pytest
from django.core.management import call_command
from openpyxl import Workbook

from members.importers import PersonImporter
from members.models import Person
from yibao_site.audit import COPY_THRESHOLD
from yibao_site.imports import read_table
from yibao_site.testing import make_id_number

pytestmark = pytest.mark.postgres

N = COPY_THRESHOLD + 20
HEADER = "id_number,name,village,phone,household_no"

_PERSON = ["id_number", "name", "sex", "birth_date", "village_id", "township_id", "phone", "household_no",
           "id_outside_county"]
_HISTORY = _PERSON + ["history_type", "history_user_id", "history_change_reason"]


def _ids(n, county="420302"):
    return [make_id_number(county, date(1960, 1, 1) + timedelta(days=i), 3, "M" if i % 2 else "F") for i in range(n)]


def _lines(j, n=N):
    """Varied good rows: phones and households or none, spaces around cells, an ID issued
    elsewhere (flagged, not refused), a lower-case check character."""
    lines = []
    for i, idn in enumerate(_ids(n)):
        if i == 5:
            idn = make_id_number("110101", date(1975, 3, 4), 9, "M")
        if idn.endswith("X") and i % 3 == 0:
            idn = idn[:-1] + "x"
        phone = f"138{i:08d}" if i % 3 == 0 else ("0719-86" + f"{i:05d}" if i % 3 == 1 else "")
        lines.append(f" {idn} ,张{'三' * (1 + i % 3)}{i},{j.village(i % 2, i % 2).code} ,{phone},"
                     f"{'H%04d' % (i // 2) if i % 4 else ''}")
    return lines


def _file(lines, header=HEADER, *, bom=True, crlf=False):
    end = "\r\n" if crlf else "\n"
    return (("\ufeff" if bom else "") + end.join([header, *lines]) + end).encode("utf-8")


def _snapshot():
    persons = list(Person.objects.order_by("id").values_list(*_PERSON))
    history = list(Person.history.order_by("id").values_list(*_HISTORY))
    return persons, history


def _one_time():
    """Every row and its history carry one timestamp (what ``insert_rows_audited`` writes)."""
    stamps = {(p.id, p.created_at) for p in Person.objects.all()}
    return {(h.id, h.history_date) for h in Person.history.all()} == stamps and len({s for _i, s in stamps}) == 1


def _clear():
    Person.objects.all().delete()
    Person.history.all().delete()


def _python(data, filename="x.csv", **kw):
    return PersonImporter().run(read_table(data, filename=filename), **kw)


def _server(data, filename="x.csv", **kw):
    importer = PersonImporter()
    report = importer.run_file(data, filename, **kw)
    return importer, report


def _same_reports(a, b):
    assert (a.total, a.created, a.updated, a.unchanged, a.errors) == (b.total, b.created, b.updated, b.unchanged,
                                                                      b.errors)


def test_the_server_writes_what_the_python_path_writes(shiyan, staff):
    lines = _lines(shiyan)
    lines.insert(40, "")  # a blank line: skipped by both
    data = _file(lines, crlf=True)
    importer, report = _server(data, actor=staff["clerk"])
    assert importer.rows == [], "the server took the file"
    assert report.ok and (report.total, report.created) == (N, N)
    server = _snapshot()
    assert _one_time()
    _clear()
    reference = _python(data, actor=staff["clerk"])
    _same_reports(report, reference)
    assert _snapshot() == server and _one_time()
    persons, history = server
    assert [p[0] for p in persons] == [line.split(",")[0].strip().upper() for line in lines if line]  # file order
    assert sum(p[-1] for p in persons) == 1  # the ID issued in Beijing is flagged
    assert {h[-3:] for h in history} == {("+", staff["clerk"].pk, "导入参保人员")}


def test_sex_and_birth_date_columns_written_as_the_id_says_are_taken_too(shiyan):
    ids = _ids(N)
    lines = [f"{idn},李{i},{shiyan.village(0, 0).code},{('男' if i % 2 else 'F') if i % 3 else ''},"
             f"{(date(1960, 1, 1) + timedelta(days=i)).isoformat() if i % 5 else ''}" for i, idn in enumerate(ids)]
    data = _file(lines, "公民身份号码,姓名,村(社区),性别,出生日期")
    importer, report = _server(data)
    assert importer.rows == [] and report.created == N
    server = _snapshot()
    _clear()
    _same_reports(report, _python(data))
    assert _snapshot() == server


def test_one_bad_row_gives_the_python_report_and_writes_nothing(shiyan):
    lines = _lines(shiyan)
    idn = lines[99].split(",")[0].strip()
    lines[99] = lines[99].replace(idn, idn[:-1] + ("0" if idn[-1] != "0" else "1"))  # row 101: check character
    data = _file(lines)
    importer, report = _server(data)
    assert importer.rows, "declined: the Python path reported"
    assert not report.ok and Person.objects.count() == 0 and Person.history.count() == 0
    assert [(e.row, e.field) for e in report.errors] == [(101, "id_number")]
    _same_reports(report, _python(data))


def _xlsx(lines):
    book = Workbook()
    sheet = book.active
    for line in [HEADER, *lines]:
        sheet.append([c.strip() for c in line.split(",")])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _declined_files(j):
    good = _lines(j)
    yield "few rows", _file(good[:COPY_THRESHOLD - 1]), "x.csv"
    yield "xlsx", _xlsx(good), "x.xlsx"
    yield "gb18030", ("\n".join([HEADER, *good]) + "\n").encode("gb18030"), "x.csv"
    quoted = list(good)
    cells = quoted[3].split(",")
    quoted[3] = ",".join([cells[0], f'"{cells[1]}"', *cells[2:]])
    yield "a quote", _file(quoted), "x.csv"
    slash = list(good)
    slash[7] += "\\1"
    yield "a backslash", _file(slash), "x.csv"
    tab = list(good)
    tab[8] = tab[8].replace("张", "\t张", 1)
    yield "a control character", _file(tab), "x.csv"
    yield "an unknown column", _file([line + ",x" for line in good], HEADER + ",note"), "x.csv"
    yield "a column twice", _file([line + ",13800000000" for line in good], HEADER + ",联系电话"), "x.csv"
    dup = list(good)
    dup[150] = dup[10]
    yield "an ID twice", _file(dup), "x.csv"
    formula = list(good)
    formula[20] = formula[20].rsplit(",", 1)[0] + ",=1+1"
    yield "a formula", _file(formula), "x.csv"
    signed = list(good)
    signed[21] = signed[21].split(",")[0] + ",王五," + j.village(0, 0).code + ",-12345,"
    yield "a phone the Python path accepts (-12345)", _file(signed), "x.csv"
    village = list(good)
    village[30] = village[30].replace(j.village(0, 0).code, "999999999999")
    yield "an unknown village", _file(village), "x.csv"
    long_name = list(good)
    long_name[31] = long_name[31].replace("张", "张" * 51, 1)
    yield "a name too long", _file(long_name), "x.csv"
    born = list(good)
    born[32] = make_id_number("420302", date.today(), 4, "F") + ",小明," + j.village(0, 0).code + ",,"
    yield "born today", _file(born), "x.csv"


def test_every_file_it_cannot_be_sure_of_goes_the_python_way(shiyan):
    for label, data, filename in _declined_files(shiyan):
        importer, report = _server(data, filename)
        assert importer.rows, label
        server = _snapshot()
        _clear()
        reference = _python(data, filename)
        _same_reports(report, reference)
        assert _snapshot() == server, label
        _clear()


def test_a_dry_run_and_an_update_go_the_python_way(shiyan):
    data = _file(_lines(shiyan))
    importer, report = _server(data, dry_run=True)
    assert importer.rows and report.ok and report.dry_run and Person.objects.count() == 0
    lines = _lines(shiyan)
    _python(_file(lines[:1]))
    importer, report = _server(_file(lines))  # row 2 is registered already: found unchanged
    assert importer.rows and (report.created, report.unchanged) == (N - 1, 1)
    changed = list(lines)
    changed[0] = changed[0].replace("张三0", "张四0")
    importer, report = _server(_file(changed))
    assert importer.rows and (report.created, report.updated, report.unchanged) == (0, 1, N - 1)


def test_the_command_and_the_background_job_take_the_server_door(shiyan, staff, tmp_path, settings, monkeypatch):
    from yibao_site import import_jobs
    from yibao_site.import_jobs import JobState

    settings.MEDIA_ROOT = str(tmp_path)
    calls = []
    original = PersonImporter.run
    monkeypatch.setattr(PersonImporter, "run", lambda self, *a, **kw: calls.append(1) or original(self, *a, **kw))
    lines = _lines(shiyan)
    path = tmp_path / "persons.csv"
    path.write_bytes(_file(lines[:150]))
    call_command("import_data", "persons", str(path), "--quiet")
    assert Person.objects.count() == 150 and calls == [1]  # a small file: the Python path
    path.write_bytes(_file(_lines(shiyan, N + 150)[150:]))
    call_command("import_data", "persons", str(path), "--quiet")
    assert Person.objects.count() == N + 150 and calls == [1]
    job, _created = import_jobs.job_submit(importer=PersonImporter, data=_file([
        line for line in _lines(shiyan, 2 * N + 150)[N + 150:]]), filename="p.csv", actor=staff["clerk"])
    job = import_jobs.job_run(job.pk)
    assert job.state == JobState.DONE and (job.created, job.rows_total, job.rows_validated, job.rows_written) == (
        N, N, N, N)
    assert calls == [1] and Person.history.filter(history_user=staff["clerk"]).count() == N


def test_an_id_taken_meanwhile_writes_nothing_and_says_so(shiyan):
    """A concurrent writer registers one of the file's IDs after the door's checks saw the file
    (the checks and the write are one statement, one snapshot: a trigger stands in for the other
    writer, taking the ID as the import's first row goes in): the unique key refuses the INSERT,
    nothing is written, the report names the conflict as the Python path's write does."""
    from django.db import connection

    lines = _lines(shiyan)
    taken = lines[50].split(",")[0].strip()
    village = shiyan.village()
    with connection.cursor() as cursor:
        cursor.execute(f"""
            CREATE FUNCTION test_take_meanwhile() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.id_number <> '{taken}'
                   AND NOT EXISTS (SELECT 1 FROM members_person WHERE id_number = '{taken}') THEN
                    INSERT INTO members_person (id_number, name, sex, birth_date, village_id, township_id, phone,
                                                household_no, id_outside_county, created_at)
                    VALUES ('{taken}', '先到', 'F', '1960-01-01', {village.pk}, {village.parent_id}, '', '', false,
                            now());
                END IF;
                RETURN NEW;
            END $$""")
        cursor.execute("CREATE TRIGGER test_take_meanwhile BEFORE INSERT ON members_person "
                       "FOR EACH ROW EXECUTE FUNCTION test_take_meanwhile()")
    try:
        importer, report = _server(_file(lines))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER test_take_meanwhile ON members_person; DROP FUNCTION test_take_meanwhile()")
    assert importer.rows == [] and not report.ok and (report.total, report.created) == (N, 0)
    assert [(e.row, e.field) for e in report.errors] == [(0, "")]
    assert report.errors[0].message.startswith("写入时与已有数据冲突") and "id_number" in report.errors[0].message
    assert Person.objects.count() == 0 and Person.history.count() == 0
