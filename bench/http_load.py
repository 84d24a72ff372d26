"""A load client that leaves the CPU to the server it measures.

20 Python ``requests`` threads cost about as much CPU per request as the Django view they
call; on a 2-core machine the client then takes a good part of what the server was meant to
have, and the figures measure the client.  Here every client is an asyncio task on one
thread holding one HTTP/1.1 keep-alive connection (raw sockets, the request bytes built once
per request, the response read by ``Content-Length`` or chunks), which costs a small fraction
of a request's server time.

:func:`cpu_seconds` reads user + system CPU seconds of processes from ``/proc`` so that a
job can say where the CPU went (server workers, PostgreSQL backends of its database, the
client itself) next to the latencies.
"""
from __future__ import annotations

import asyncio
import json as _json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def request_bytes(method: str, path: str, *, host: str, headers: dict | None = None, json=None) -> bytes:
    """One HTTP/1.1 request, keep-alive, with an optional JSON body."""
    body = b"" if json is None else _json.dumps(json).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive", "Accept: application/json"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if json is not None:
        lines.append("Content-Type: application/json")
    if body or method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, close = None, False, False
    for line in lines[1:]:
        name, _sep, value = line.partition(":")
        name = name.strip().lower()
        value = value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.lower() == "close":
            close = True
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif length is not None:
        body = await reader.readexactly(length)
    else:  # no length: the body runs to the end of the connection
        body = await reader.read()
        close = True
    return status, close, body


@dataclass
class LoadResult:
    samples: list[float] = field(default_factory=list)  # seconds per request
    statuses: list[int] = field(default_factory=list)
    seconds: float = 0.0
    client_cpu: float = 0.0  # CPU seconds this process spent driving the load

    @property
    def errors(self) -> list[int]:
        return [s for s in self.statuses if s >= 400]

    @property
    def per_s(self) -> float:
        return len(self.samples) / self.seconds if self.seconds else 0.0

    def p95_ms(self) -> float:
        return percentile_ms(self.samples, 95)


def percentile_ms(samples: list[float], pct: float) -> float:
    if not samples:
        return 0.0
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * pct / 100 + 0.5) - 1)] * 1000


async def _client(host: str, port: int, make: Callable[[int], bytes], ks: range, result: LoadResult,
                  check: Callable[[int, bytes], None] | None) -> None:
    reader = writer = None
    try:
        for k in ks:
            payload = make(k)
            started = time.perf_counter()
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            writer.write(payload)
            status, close, body = await _read_response(reader)
            result.samples.append(time.perf_counter() - started)
            result.statuses.append(status)
            if check is not None:
                check(status, body)
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


def run_load(host: str, port: int, make: Callable[[int], bytes], *, clients: int, per_client: int,
             check: Callable[[int, bytes], None] | None = None) -> LoadResult:
    """``clients`` connections at once, each sending ``per_client`` requests one after the other
    (request ``k`` of client ``c`` is ``make(c * per_client + k)``)."""
    result = LoadResult()

    async def main():
        await asyncio.gather(*(_client(host, port, make, range(c * per_client, (c + 1) * per_client), result, check)
                               for c in range(clients)))

    cpu0, started = time.process_time(), time.perf_counter()
    asyncio.run(main())
    result.seconds = time.perf_counter() - started
    result.client_cpu = time.process_time() - cpu0
    return result


def cpu_seconds(pids) -> dict[int, float]:
    """User + system CPU seconds used so far by each of ``pids`` (those gone are left out)."""
    found = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[pid] = (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime (stat fields 14, 15)
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds between two :func:`cpu_seconds` snapshots (a process born in between from 0)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def postgres_backends(database: str) -> list[int]:
    """PostgreSQL backends connected to ``database`` (their process title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            found.append(int(entry.name))
    return found
