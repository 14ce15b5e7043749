#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs and starts the
# emulators (moto), builds, runs every test, stops the emulators.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/emulators.sh
mkdir -p "$MADPLAN_CACHE"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MADPLAN_CACHE/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

trap stop_emulators EXIT
start_moto

# Doc examples first, so that the suite's summary is the last thing printed.
cargo test --workspace --doc --quiet
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --lib --bins --tests --examples --no-fail-fast
else
  cargo test --workspace --lib --bins --tests --examples --no-fail-fast
fi
