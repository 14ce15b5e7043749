#!/usr/bin/env bash
# Regenerates docs/production-graph.{dot,svg}: the dependency graph of the
# MadPlan production environment, as `production graph` prints it (DOT),
# rendered by Graphviz (`apt-get install graphviz`). No API is called: the
# variables below only satisfy the settings' checks.
set -euo pipefail
cd "$(dirname "$0")/.."
MADPLAN_CACHE="${MADPLAN_CACHE:-$HOME/.cache/madplan}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$MADPLAN_CACHE/target}"
command -v dot >/dev/null || { echo "Graphviz's dot is needed: apt-get install graphviz" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
env -i PATH="$PATH" HOME="$HOME" CARGO_TARGET_DIR="$CARGO_TARGET_DIR" \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=graph AWS_SECRET_ACCESS_KEY=graph \
  AWS_EC2_METADATA_DISABLED=true \
  MONGODB_ATLAS_CLIENT_ID=mdb_sa_id_graph MONGODB_ATLAS_CLIENT_SECRET=graph \
  MONGODB_ATLAS_ORG_ID=5f00000000000000000000aa \
  CLOUDFLARE_API_TOKEN=graph CLOUDFLARE_ZONE=madplan.com \
  DD_API_KEY=00000000000000000000000000000000 \
  DD_APP_KEY=0000000000000000000000000000000000000000 DD_SITE=datadoghq.com \
  MADPLAN_AWS_ACCOUNT_ID=123456789012 MADPLAN_ALERT_EMAIL=alerts@madplan.com \
  MADPLAN_PAGERDUTY_KEY=graph-pagerduty-integration-key MADPLAN_DB_PASSWORD=graph-database-password \
  MADPLAN_REDIS_TOKEN=graph-redis-token-0000 \
  MADPLAN_STATE="$work/state.json" \
  cargo run --quiet --example production -- graph > docs/production-graph.dot
dot -Tsvg docs/production-graph.dot -o docs/production-graph.svg
echo "docs/production-graph.svg: $(grep -c -- '->' docs/production-graph.dot) edges"
