#!/usr/bin/env bash
# API fuzzing (Schemathesis): start the app on a free loopback port on a throwaway database
# seeded with demo data, then let Schemathesis generate requests for every operation of the
# published OpenAPI schema (/api/schema/) as several staff roles. Fails (exit 1) on any 5xx,
# any response that does not match the schema, or any status code the schema does not list.
#
#   scripts/fuzz.sh                                   # SQLite in a temporary directory
#   FUZZ_DATABASE_URL=postgres://postgres@127.0.0.1:5432/yibao_fuzz scripts/fuzz.sh
#   FUZZ_MAX_EXAMPLES=20 FUZZ_USERS=demo_finance scripts/fuzz.sh    # longer, one role
#
# Bounded: a few examples per operation, a fixed seed, a time limit per role. Reports
# (JUnit, NDJSON) and the server log land in var/fuzz-report/. A PostgreSQL database is dropped
# and created again: its name must contain "fuzz".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FUZZ_VENV=${FUZZ_VENV:-$ROOT/var/fuzz-venv}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-10}
SEED=${FUZZ_SEED:-2026}
PERSONS=${FUZZ_PERSONS:-300}
# Supervisor: every read and the bureau-level writes; township agent: the township scope and its
# writes; window clerk: persons, enrolments and claims (demo accounts of seed_demo).
USERS=${FUZZ_USERS:-"demo_supervisor demo_agent demo_clerk"}
# The coverage phase (boundary values, wrong types, missing fields: ~7 000 requests) runs as these;
# the others get the examples and the random fuzzing phase (≤ MAX_EXAMPLES per operation).
COVERAGE_USERS=${FUZZ_COVERAGE_USERS:-demo_supervisor}
# A guard against a hang, not the budget (the budget is the number of examples): reaching it fails.
ROLE_TIMEOUT=${FUZZ_ROLE_TIMEOUT:-900}
CHECKS=not_a_server_error,response_schema_conformance,status_code_conformance
REPORT_DIR=$ROOT/var/fuzz-report

say() { printf '→ %s\n' "$*"; }

# ── the app's environment (same as the README commands) and Schemathesis's own ──
python3 -c 'import sys; sys.path.insert(0, "scripts"); from _bootstrap import ensure_environment; ensure_environment()'
APP_PY=$ROOT/.venv/bin/python
stamp=$FUZZ_VENV/.requirements.sha1
digest=$(sha1sum requirements-fuzz.txt | cut -d' ' -f1)
if [ ! -x "$FUZZ_VENV/bin/schemathesis" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
  say "installing Schemathesis into $FUZZ_VENV (requirements-fuzz.txt)"
  python3 -m venv "$FUZZ_VENV"
  "$FUZZ_VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-fuzz.txt
  echo "$digest" > "$stamp"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/yibao-fuzz.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

DB_URL=${FUZZ_DATABASE_URL:-sqlite:///$WORK/fuzz.sqlite3}
if [[ "$DB_URL" == postgres* ]]; then
  "$APP_PY" - "$DB_URL" <<'EOF'
import sys

import dj_database_url
import psycopg

cfg = dj_database_url.parse(sys.argv[1])
name = cfg["NAME"]
if "fuzz" not in name:
    sys.exit(f"refusing to drop database {name!r}: a fuzz database's name contains 'fuzz'")
with psycopg.connect(host=cfg["HOST"] or None, port=cfg["PORT"] or None, user=cfg["USER"] or None,
                     password=cfg["PASSWORD"] or None, dbname="postgres", autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}"')
EOF
fi

export DATABASE_URL=$DB_URL YIBAO_VAR_DIR=$WORK/var DEBUG=0 ALLOWED_HOSTS=127.0.0.1,localhost \
  SECRET_KEY="fuzz-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" PYTHONUNBUFFERED=1
unset YIBAO_PRODUCTION CELERY_BROKER_URL CELERY_TASK_ALWAYS_EAGER

say "database ${DB_URL%%://*}: migrate and seed_demo ($PERSONS persons)"
"$APP_PY" manage.py migrate --noinput -v 0
"$APP_PY" manage.py seed_demo --persons "$PERSONS" > "$WORK/seed.log" 2>&1 || { tail -n 40 "$WORK/seed.log"; exit 1; }

declare -A TOKENS
for user in $USERS; do
  TOKENS[$user]=$("$APP_PY" manage.py drf_create_token "$user" | awk '{print $3}')
  [ -n "${TOKENS[$user]}" ] || { echo "no token for $user"; exit 1; }
done

PORT=$("$APP_PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
rm -rf "$REPORT_DIR"; mkdir -p "$REPORT_DIR"
say "server on $BASE (gunicorn, log: var/fuzz-report/server.log)"
# --limit-request-line 0: gunicorn's own 4 KB request-line cap would answer generated long query
# strings with an HTML 414 before the app sees them; the app is what is under test here.
"$ROOT/.venv/bin/gunicorn" config.wsgi --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 --limit-request-line 0 \
  --access-logfile "$REPORT_DIR/access.log" --error-logfile "$REPORT_DIR/server.log" --capture-output &
SERVER_PID=$!
for _ in $(seq 1 60); do
  "$APP_PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$BASE/healthz" \
    2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$REPORT_DIR/server.log"; exit 1; }
  sleep 0.5
done
# Generated once (it takes seconds); every run reads this copy and sends its requests to $BASE.
"$APP_PY" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())' \
  "$BASE/api/schema/?format=json" "$REPORT_DIR/schema.json"

failed=()
for user in $USERS; do
  phases=examples,fuzzing
  [[ " $COVERAGE_USERS " == *" $user "* ]] && phases=examples,coverage,fuzzing
  say "Schemathesis as $user: phases $phases, ≤$MAX_EXAMPLES examples per operation, seed $SEED, checks $CHECKS"
  set +e
  # DELETE auth/token/ would revoke the fuzzer's own token; everything else is fair game.
  # --workers 1: with two worker threads CPython 3.11's ast.parse (Hypothesis describing its
  # lambdas) can fail with "AST constructor recursion depth mismatch", a tool error, not ours.
  # Without a TTY Schemathesis prints plain text; NO_COLOR keeps CI logs readable.
  NO_COLOR=1 timeout --kill-after=10 "$ROLE_TIMEOUT" "$FUZZ_VENV/bin/schemathesis" run "$REPORT_DIR/schema.json" --url "$BASE" \
    --header "Authorization: Token ${TOKENS[$user]}" \
    --checks "$CHECKS" \
    --exclude-operation-id v1_auth_token_destroy \
    --phases "$phases" \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers 1 \
    --generation-database none --request-timeout 30 --no-color --warnings off \
    --report junit,ndjson --report-dir "$REPORT_DIR" \
    --report-junit-path "$REPORT_DIR/$user.junit.xml" --report-ndjson-path "$REPORT_DIR/$user.ndjson"
  code=$?
  set -e
  if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    echo "Schemathesis as $user did not finish within ${ROLE_TIMEOUT}s"
  fi
  [ "$code" -eq 0 ] || failed+=("$user (exit $code)")
done

if grep -q "Traceback" "$REPORT_DIR/server.log"; then
  echo "the server logged exceptions (var/fuzz-report/server.log):"
  grep -n -A 30 "Traceback" "$REPORT_DIR/server.log" | head -n 120
  failed+=("server tracebacks")
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "API fuzzing failed: ${failed[*]}"
  exit 1
fi
echo "API fuzzing passed: 0 server errors, 0 schema violations ($USERS)"
