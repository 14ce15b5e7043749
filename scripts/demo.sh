#!/usr/bin/env bash
# The main job, on local emulators: starts moto (AWS) and the Atlas,
# Cloudflare and Datadog fakes, then shows the plan of the MadPlan production
# environment, applies it with progress, prints its outputs, and checks that
# a second plan has nothing to do. The same binary (examples/production.rs)
# pointed at real accounts (the standard variables, no emulator URLs) is what
# an ops team runs.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/emulators.sh
mkdir -p "$MADPLAN_CACHE"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MADPLAN_CACHE/target}"

cargo build --quiet --example production --example emulators
bin="$CARGO_TARGET_DIR/debug/examples/production"
work=$(mktemp -d)

EMULATORS_PID=
stop_all() {
  if [ -n "$EMULATORS_PID" ]; then
    kill "$EMULATORS_PID" 2>/dev/null || true
    wait "$EMULATORS_PID" 2>/dev/null || true
  fi
  stop_emulators
}
trap stop_all EXIT
start_moto
"$CARGO_TARGET_DIR/debug/examples/emulators" "$work/emulators.env" 2>"$work/emulators.log" &
EMULATORS_PID=$!
for _ in $(seq 1 100); do
  [ -s "$work/emulators.env" ] && break
  sleep 0.1
done
[ -s "$work/emulators.env" ] || { cat "$work/emulators.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$work/emulators.env"

# What the operator gives the stack (demo values; real ones are secrets).
export MADPLAN_AWS_ACCOUNT_ID=123456789012
export MADPLAN_ALERT_EMAIL=alerts@madplan.com
export MADPLAN_PAGERDUTY_KEY=demo-pagerduty-integration-key
export MADPLAN_DB_PASSWORD=demo-database-password
export MADPLAN_REDIS_TOKEN=demo-redis-auth-token-0000
export MADPLAN_POLL_INTERVAL=1s
export MADPLAN_STATE="$work/production.state.json"

echo "== plan"
"$bin" plan
echo "== apply"
"$bin" apply --auto-approve
echo "== output"
"$bin" output
echo "== plan again (must show no changes)"
"$bin" plan --detailed-exitcode
if grep -q "spec violation" "$work/emulators.log"; then
  echo "The fakes saw requests or answers that break the providers' API specs:" >&2
  grep "spec violation" "$work/emulators.log" >&2
  exit 1
fi
echo "State is in $MADPLAN_STATE; the emulators stop now, so it describes resources that are gone."
