#!/usr/bin/env bash
# Regenerates the trimmed specs in this folder from the providers' official
# documents (see README.md for where to get each one and which version these
# were cut from). Usage: regenerate.sh DIR_WITH_THE_OFFICIAL_DOCUMENTS
# Needs python3 with PyYAML.
set -euo pipefail
src="${1:?give the folder holding atlas-transformed.yaml, cf-2023-08-04.yaml and dd-v1.yaml}"
here="$(cd "$(dirname "$0")" && pwd)"
trim() { python3 "$here/trim.py" "$@"; }

trim "$src/atlas-transformed.yaml" \
  '^/api/atlas/v2/(orgs/\{orgId\}/groups|groups(/byName/\{groupName\}|/\{groupId\}(/accessList(/\{entryValue\}(/status)?)?|/auditLog|/integrations(/\{integrationType\})?|/settings|/clusters(/\{clusterName\}(/status|/backup/(schedule|restoreJobs(/\{restoreJobId\})?))?)?|/databaseUsers(/\{databaseName\}/\{username\}|/\{username\}/certs)?)?)?)$' \
  "$here/atlas-trim.json"

trim "$src/cf-2023-08-04.yaml" \
  '^/zones(/\{identifier\}|/\{zone_id\}/rulesets.*|/\{zone_identifier\}/(dns_records.*|settings(/(always_use_https|automatic_https_rewrites|min_tls_version|security_header|ssl|tls_1_3))?|ssl/(certificate_packs.*|universal/settings)))?$' \
  "$here/cf-trim.json" --prefer-scheme api_token

trim "$src/dd-v1.yaml" \
  '^/api/v1/(validate|monitor(/search|/\{monitor_id\})?|dashboard(/\{dashboard_id\})?|slo(/\{slo_id\})?|synthetics/tests(/(api(/\{public_id\})?|delete|\{public_id\}(/status)?))?|integration/(pagerduty/configuration/services(/\{service_name\})?|slack/configuration/accounts/\{account_name\}/channels(/\{channel_name\})?))$' \
  "$here/dd-trim.json"

trim "$src/dd-v2-2026-04.yaml" \
  '^/api/v2/integration/aws/accounts(/\{aws_account_config_id\})?$' \
  "$here/dd-v2-trim.json"
