#!/usr/bin/env python3
"""Set everything up and run the whole test suite (SQLite, embedded defaults).

    python3 scripts/test.py            # everything
    python3 scripts/test.py -k ledger  # any pytest arguments
    python3 scripts/test.py -n 0       # one process (default: one xdist worker per core, ≤ 4)

PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/yibao python3 scripts/test.py
"""
import os
import subprocess
import sys

from _bootstrap import ROOT, ensure_environment

if __name__ == "__main__":
    python = ensure_environment()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    args = sys.argv[1:]
    # pytest-xdist: one worker per core (at most 4) unless the caller chose (-n / -p no:xdist).
    if not any(a == "-n" or a.startswith("-n") or a.startswith("--numprocesses") or a == "no:xdist" for a in args):
        args = ["-n", str(max(1, min(4, os.cpu_count() or 1))), *args]
    code = subprocess.call([str(python), "-m", "pytest", *args], cwd=ROOT, env=env)
    sys.exit(code)
