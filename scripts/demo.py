#!/usr/bin/env python3
"""Set everything up and run the back office with demo data on embedded defaults:
SQLite in var/, a file-system Celery broker, the web admin + API, a Celery worker and beat.

    python3 scripts/demo.py                 # http://127.0.0.1:8000/
    python3 scripts/demo.py --port 8080 --persons 20000
"""
import argparse
import os
import signal
import subprocess
import sys
import time

from _bootstrap import ROOT, ensure_environment

DEMO_PASSWORD = "demo-2026"
ROLES = [
    ("demo_clerk", "window_clerk", "窗口经办"),
    ("demo_agent", "township_agent", "乡镇经办"),
    ("demo_agent2", "township_agent", "乡镇经办(另一乡镇)"),
    ("demo_reviewer", "reviewer", "审核"),
    ("demo_reviewer2", "reviewer", "审核(第二人)"),
    ("demo_finance", "finance", "财务"),
    ("demo_supervisor", "supervisor", "管理员"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--persons", type=int, default=3000)
    args = parser.parse_args()

    python = str(ensure_environment())
    env = dict(os.environ)
    env.setdefault("DEBUG", "1")
    env.setdefault("ALLOWED_HOSTS", f"localhost,127.0.0.1,{args.host}")

    def manage(*argv: str) -> None:
        subprocess.run([python, "manage.py", *argv], cwd=ROOT, env=env, check=True)

    manage("migrate", "--noinput", "-v", "0")
    manage("seed_demo", "--persons", str(args.persons), "--password", DEMO_PASSWORD)

    procs = [
        subprocess.Popen([python, "-m", "celery", "-A", "config", "worker", "-P", "solo", "-l", "WARNING"],
                         cwd=ROOT, env=env),
        subprocess.Popen([python, "-m", "celery", "-A", "config", "beat", "-l", "WARNING",
                          "--schedule", str(ROOT / "var" / "celerybeat-schedule")], cwd=ROOT, env=env),
        subprocess.Popen([python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"],
                         cwd=ROOT, env=env),
    ]
    url = f"http://{args.host}:{args.port}"
    print("\n" + "=" * 72)
    print(f" 医保经办后台 (demo) · {url}/admin/   API: {url}/api/docs/   乡镇经办: {url}/agent/")
    print(f" 演示账号 / demo logins (password 密码: {DEMO_PASSWORD}):")
    for username, role, label in ROLES:
        print(f"   {label:<10} {username:<16} ({role})")
    print(" Celery worker + beat are running (file-system broker in var/). Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)

    def stop(*_):
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while all(p.poll() is None for p in procs):
        time.sleep(1)
    stop()
    return 1


if __name__ == "__main__":
    sys.exit(main())
