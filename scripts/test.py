#!/usr/bin/env python3
"""Set everything up and run the whole test suite (SQLite, embedded defaults).

    python3 scripts/test.py            # everything
    python3 scripts/test.py -k ledger  # any pytest arguments

PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/yibao python3 scripts/test.py
"""
import os
import subprocess
import sys

from _bootstrap import ROOT, ensure_environment

if __name__ == "__main__":
    python = ensure_environment()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    code = subprocess.call([str(python), "-m", "pytest", *sys.argv[1:]], cwd=ROOT, env=env)
    sys.exit(code)
