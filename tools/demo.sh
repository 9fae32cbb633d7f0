#!/usr/bin/env bash
# `make demo`: the lab up, steady traffic on its production listener, then a blue-green deployment of the
# next release (v1.2.3) end to end, ending with the deployment summary and the traffic report.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
TAG=${TAG:-v1.2.3}
audit=${DEPLOYMENT_AUDIT_FILE:-${LAB_STATE_DIR:-$PWD/.lab}/audit.jsonl}

python -m lab up
# A demo starts from the seeded world: live slot a on v1.2.2.
python -m lab reset
python -m lab traffic start --rps 50 --duration 900
trap 'python -m lab traffic stop >/dev/null 2>&1 || true' EXIT
sleep 5

rc=0
ANSIBLE_CALLBACKS_ENABLED=progressive.delivery.deployment_audit DEPLOYMENT_AUDIT_FILE="$audit" \
  ansible-playbook playbooks/ecs_blue_green.yml -i inventories/lab -e "ecs_validate_image_tag=$TAG" \
    -e "aws_endpoint_url=http://127.0.0.1:${LAB_AWS_PORT:-4566}" \
    -e "ecs_green_deploy_smoke_base_url=http://127.0.0.1:${LAB_TEST_PORT:-19000}" || rc=$?

python -m lab traffic stop >/dev/null
echo
echo "Traffic through the production listener during the deployment:"
python -m lab traffic report | head -25
echo
echo "Audit trail: $audit"
python -m lab status | sed -n '1,12p'
exit $rc
