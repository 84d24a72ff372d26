"""Create ``.venv`` and install the pinned requirements when they changed (shared by the
two README commands)."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PY = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment() -> Path:
    if sys.version_info < (3, 11):
        sys.exit(f"Python 3.11+ is required (this is {sys.version.split()[0]}).")
    if not PY.exists():
        print("→ creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".requirements.sha1"
    digest = hashlib.sha1(
        (ROOT / "requirements.txt").read_bytes() + (ROOT / "constraints.txt").read_bytes()
    ).hexdigest()
    if not stamp.exists() or stamp.read_text() != digest:
        print("→ installing requirements (pinned)", flush=True)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([str(PY), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements.txt"),
                        "-c", str(ROOT / "constraints.txt")], check=True)
        stamp.write_text(digest)
    return PY
