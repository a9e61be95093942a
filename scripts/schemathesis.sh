#!/usr/bin/env bash
# Property-based API fuzzing of the billing-webhook service with Schemathesis
# (PyPI, pinned) against its own OpenAPI document (GET /openapi.json).
#
# Starts the service on a loopback port (`tenantctl serve --fake-deployer`: a
# fake deployer, a temp copy of tenants.yaml, a temp store, a random secret)
# and reads the one line it prints once listening, then two runs:
#   1. signed: test/schemathesis/signing_hooks.py signs every request
#      (Billing-Signature t=<unix>,v1=<hmac>) so the fuzzer reaches the body
#      validation and the manifest edit, and sends the status token
#      (Authorization: Bearer) to GET /tenants, /jobs and /metrics; every
#      check (ignored_auth included: without the token, 401), zero server errors.
#   2. unsigned: no credentials at all; every webhook delivery must be refused
#      with 401 (never a 5xx, never accepted).
# Then the status endpoints without a token, with a wrong one and with the
# webhook secret: 401; /healthz and /readyz: open.
# Stops the service by its PID. Exits non-zero on any failed check (a 5xx, a
# response that breaks the schema, an unsigned request accepted...).
#
#   SCHEMATHESIS_EXAMPLES  examples per operation and phase (default 300: about 30 s)
#   SCHEMATHESIS_SEED      seed of the run (default: random; printed by Schemathesis)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NODE_BIN="$(bash scripts/ensure-node.sh)"
export PATH="$NODE_BIN:$PATH"

SCHEMATHESIS_VERSION="4.32.5"
VENV="$ROOT/.work/schemathesis-venv"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-300}"

if [ ! -x "$VENV/bin/schemathesis" ] || [ "$("$VENV/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "==> installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cv-schemathesis-XXXXXX")"
SERVICE_PID=""
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  if [ -n "$SERVICE_PID" ] && kill -0 "$SERVICE_PID" 2>/dev/null; then
    kill -TERM "$SERVICE_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

cp tenants.yaml "$WORK/tenants.yaml"
SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"
STATUS_TOKEN="$(python3 -c 'import secrets; print(secrets.token_hex(24))')"

echo "==> starting the service (fake deployer) on a loopback port"
# Once listening, `serve` prints {"port":<port>,"pid":<pid>} on stdout; its log (errors only) follows.
exec 3< <(WEBHOOK_SECRET="$SECRET" WEBHOOK_SECRETS="" WEBHOOK_SECRET_PREVIOUS="" STATUS_TOKENS="$STATUS_TOKEN" STATUS_TOKEN="" BROKER_URL="" EVENTS_URL="" LOG_LEVEL=error \
  exec ./tenantctl serve --fake-deployer --fake-delay-ms 50 --host 127.0.0.1 --port 0 \
    --manifest "$WORK/tenants.yaml" --store "$WORK/service.db" 2>"$WORK/service.err")
SERVICE_PID=$! # the process substitution, which `exec`s into tenantctl, which `exec`s into node
READY=""
while IFS= read -r -t 60 line <&3; do
  case "$line" in '{"port":'*) READY="$line"; break ;; esac
  printf '%s\n' "$line" >>"$WORK/service.out"
done
PORT="$(sed -n 's/^{"port":\([0-9]*\),"pid":[0-9]*}$/\1/p' <<<"$READY")"
if [ -z "$PORT" ]; then
  echo "the service did not start (no ready line within 60 s):" >&2
  cat "$WORK/service.err" >&2
  exit 1
fi
# Keep draining its stdout: a full pipe would block the service's logging.
cat <&3 >>"$WORK/service.out" &
exec 3<&-
BASE="http://127.0.0.1:$PORT"
echo "    $BASE (pid $SERVICE_PID)"

# Runs in the temp dir: Schemathesis and Hypothesis keep their caches in the working directory.
run() {
  (cd "$WORK" && "$VENV/bin/schemathesis" --no-color --config-file "$ROOT/test/schemathesis/schemathesis.toml" run "$BASE/openapi.json" \
    --url "$BASE" --phases examples,coverage,fuzzing --max-examples "$EXAMPLES" --workers 1 \
    ${SCHEMATHESIS_SEED:+--seed "$SCHEMATHESIS_SEED"} "$@")
}

# The service's own count of deliveries by result (billing_webhooks_total), summed over event types: "result=n ...".
results() {
  STATUS_TOKEN="$STATUS_TOKEN" python3 - "$BASE/metrics" <<'PY'
import os, re, sys, urllib.request
req = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {os.environ['STATUS_TOKEN']}"})
text = urllib.request.urlopen(req, timeout=10).read().decode()
counts = {}
for result, n in re.findall(r'^billing_webhooks_total\{[^}]*result="([^"]+)"[^}]*\} (\S+)$', text, re.M):
    counts[result] = counts.get(result, 0) + int(float(n))
print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())))
PY
}
count() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1; }

status=0
echo "==> signed requests: every check"
PYTHONPATH="$ROOT/test/schemathesis" SCHEMATHESIS_HOOKS=signing_hooks WEBHOOK_SECRET="$SECRET" STATUS_TOKEN="$STATUS_TOKEN" \
  run --checks all --exclude-checks use_after_free,ensure_resource_availability,object_level_authorization || status=1
signed="$(results)"
echo "    deliveries by result: $signed"
# The signing must work: the published examples were accepted and malformed bodies reached the body validation.
if [ "$(count "$signed" accepted)" = "" ] || [ "$(count "$signed" invalid)" = "" ]; then
  echo "the signed run never got past the signature check (no accepted or no invalid delivery): is the signing hook broken?" >&2
  status=1
fi

echo "==> unsigned requests: POST /webhooks/billing must answer 401, never a 5xx"
run --include-path /webhooks/billing \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --exclude-checks positive_data_acceptance,negative_data_rejection,ignored_auth || status=1
unsigned="$(results)"
echo "    deliveries by result: $unsigned"
for r in accepted ignored duplicate rejected invalid error; do
  if [ "$(count "$signed" $r)" != "$(count "$unsigned" $r)" ]; then
    echo "an unsigned delivery got past the signature check (result $r: $(count "$signed" $r) -> $(count "$unsigned" $r))" >&2
    status=1
  fi
done
if [ "$(count "$unsigned" unauthorized)" = "$(count "$signed" unauthorized)" ]; then
  echo "the unsigned run sent no delivery" >&2
  status=1
fi

echo "==> status endpoints: 401 without the status token, with a wrong one, with the webhook secret; probes open"
# HTTP status of a GET, with an optional Authorization header.
code() { curl -s -o /dev/null -w '%{http_code}' ${2:+-H "Authorization: $2"} "$BASE$1"; }
for path in /tenants/abc /jobs/job_nope /events/evt_nope /metrics; do
  for auth in "" "Bearer wrong" "Bearer $SECRET"; do
    got="$(code "$path" "$auth")"
    if [ "$got" != "401" ]; then echo "GET $path with '${auth%% *}' credentials answered $got, not 401" >&2; status=1; fi
  done
  got="$(code "$path" "Bearer $STATUS_TOKEN")"
  case "$got" in 200|404) ;; *) echo "GET $path with the status token answered $got" >&2; status=1 ;; esac
done
for path in /healthz /readyz /openapi.json; do
  got="$(code "$path")"
  if [ "$got" != "200" ]; then echo "GET $path answered $got, not 200" >&2; status=1; fi
done

if ! kill -0 "$SERVICE_PID" 2>/dev/null; then
  echo "the service died during the run:" >&2
  cat "$WORK/service.err" >&2
  status=1
fi
if grep -q '"level":50' "$WORK/service.out" "$WORK/service.err" 2>/dev/null; then
  echo "the service logged errors:" >&2
  grep -h '"level":50' "$WORK/service.out" "$WORK/service.err" | head -20 >&2
  status=1
fi
exit $status
