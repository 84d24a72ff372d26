"""Test helpers: persons, enrolments and identities through members.services; claims'
ledger rows written directly (the claims engineer keeps them right on every settlement)."""
from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

from claims.models import PersonYearLedger
from members import services as members
from yibao_site.actors import system_actor
from yibao_site.models import Role
from yibao_site.services import staff_save
from yibao_site.testing import make_id_number
from members.testing import clerk

_seq = itertools.count(1)


def person(j, *, township=0, village=0, name="张三", county=None, birth=date(1970, 5, 1)):
    """Register a person in a village of jurisdiction ``j`` (township/village by index)."""
    code = county or j.county.code
    if isinstance(village, int):
        village_code = j.village(township, village).code
    else:
        village_code = village.code
    return members.person_register(actor=clerk(), id_number=make_id_number(code, birth, next(_seq)), name=name,
                                   village_code=village_code)


def resident(p, year):
    """Enrol ``p`` in the resident scheme for ``year``, paid in the collection period."""
    return members.enrollment_create(actor=clerk(), person=p, year=year, scheme="resident", paid_on=date(year - 1, 10, 8))


def employee(p, year):
    return members.enrollment_create(actor=clerk(), person=p, year=year, scheme="employee", employee_status="in_service",
                                     paid_on=date(year - 1, 12, 20), contribution_base=Decimal("5000"))


def identity(p, kind, valid_from=date(2020, 1, 1), valid_to=None, source="civil_affairs"):
    return members.identity_add(actor=clerk(), person=p, kind=kind, valid_from=valid_from, valid_to=valid_to, source=source)


def ledger(p, year, **months):
    """A ledger row with month columns: ``ledger(p, 2024, m01="3000.00", m03="5000.01")``."""
    values = {f"oop_{k}": Decimal(v) for k, v in months.items()}
    total = sum(values.values(), Decimal("0.00"))
    return PersonYearLedger.objects.create(person=p, year=year, out_of_pocket=total, **values)


def add_county(j, code="420303", name="张湾区"):
    """A second county with one township and one village under ``j``'s city."""
    from yibao_site.models import RegionLevel
    from yibao_site.services import region_save

    county = region_save(code=code, name=name, level=RegionLevel.COUNTY, parent_code=j.city.code)
    town = region_save(code=f"{code}001", name=f"{name}一镇", level=RegionLevel.TOWNSHIP, parent_code=code)
    village = region_save(code=f"{code}001001", name=f"{name}一村", level=RegionLevel.VILLAGE,
                          parent_code=town.code)
    return county, town, village


class Receiver:
    """A partner department's endpoint: a real HTTP server on 127.0.0.1 in a thread.

    ``script`` lists the status codes of the next responses (then 200 for ever); every request
    is kept (headers and body) so tests can check the signature, the idempotency key and
    that nothing was accepted twice.
    """

    def __init__(self, script=()):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.script = list(script)
        self.requests: list[dict] = []
        self.accepted: dict[str, bytes] = {}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                    status = receiver.script.pop(0) if receiver.script else 200
                    key = self.headers.get("Idempotency-Key", "")
                    duplicate = key in receiver.accepted
                    if status == 200 and not duplicate:
                        receiver.accepted[key] = body
                reply = (b'{"received": true, "duplicate": %s}' % (b"true" if duplicate else b"false")
                         if status == 200 else b'{"error": "unavailable"}')
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/warnings/inbox"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


#: The monthly job's actor (what beat, the push task and the command pass).
SYSTEM = system_actor("assistance.early_warning")


def supervisor():
    """A supervisor (管理员) to configure endpoints, accounts and the schedule as."""
    return staff_save(username="ew-supervisor", role=Role.SUPERVISOR)
