#!/usr/bin/env bash
# The main job, on local emulators: starts moto, then plans and applies the
# network environment, shows its outputs, and checks that a second plan has
# nothing to do. Arguments are passed to `apply` (e.g. nothing, or
# --auto-approve is added when there is no terminal).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/emulators.sh
mkdir -p "$MADPLAN_CACHE"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MADPLAN_CACHE/target}"

trap stop_emulators EXIT
start_moto

cargo build --quiet --example network
bin="$CARGO_TARGET_DIR/debug/examples/network"
work=$(mktemp -d)
export MADPLAN_STATE="$work/network-demo.state.json"

echo "== plan"
"$bin" plan
echo "== apply"
"$bin" apply --auto-approve
echo "== output"
"$bin" output
echo "== plan again (must show no changes)"
"$bin" plan --detailed-exitcode
echo "State is in $MADPLAN_STATE; moto stops now, so it describes resources that are gone."
