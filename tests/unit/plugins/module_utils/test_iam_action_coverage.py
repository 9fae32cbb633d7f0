"""The IAM action list against the code, both ways (tools/iam_action_scan.py):

- every boto3 operation plugins/ calls, and every action of every amazon.aws / community.aws module a role or playbook
  uses, is granted by the list (plugins/module_utils/iam_actions.py);
- every action the list grants is called somewhere;
- the module -> actions map is true to the installed modules' source;
- every action has a resource scope, and each `*` says why.
"""
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(REPO / "tools"))

import iam_action_scan as scan  # noqa: E402

from ansible_collections.progressive.delivery.plugins.module_utils import iam_actions as ia  # noqa: E402


@pytest.fixture(scope="module")
def coverage():
    return scan.coverage(ia)


def test_every_action_the_code_calls_is_granted(coverage):
    assert coverage["missing"] == [], "called but not in iam_actions.py: %s" % [
        (a, coverage["called"][a][:2]) for a in coverage["missing"]]


def test_every_granted_action_is_called_somewhere(coverage):
    assert coverage["unused"] == [], "granted by iam_actions.py but called nowhere: %s" % coverage["unused"]


def test_every_module_a_role_uses_is_mapped_to_its_actions(coverage):
    assert coverage["unmapped_modules"] == {}, (
        "amazon.aws / community.aws modules used without an entry in iam_actions.MODULE_ACTIONS: %s"
        % coverage["unmapped_modules"])
    assert coverage["ambiguous"] == []


def test_the_scan_sees_the_calls_the_issue_named(coverage):
    called = coverage["called"]
    # green tags and updates the candidate with ecs_slot_update (issue 16), not community.aws.ecs_tag / ecs_service
    assert any(where.startswith("plugins/modules/ecs_slot_update.py") for where in called["ecs:TagResource"])
    assert any(where.startswith("plugins/modules/ecs_slot_update.py") for where in called["elasticloadbalancing:ModifyTargetGroup"])
    assert "ecs:ListTagsForResource" not in called
    assert any(where.startswith("plugins/modules/alb_weighted_shift.py") for where in called["elasticloadbalancing:ModifyListener"])
    assert any(where.startswith("plugins/callback/deployment_audit.py") for where in called["logs:PutLogEvents"])
    assert any("ecs_taskdef_clone" in where for where in called["secretsmanager:DescribeSecret"])   # client("secretsmanager", r).x()
    assert any(where.startswith("plugins/module_utils/elbv2_lookup.py") for where in called["elasticloadbalancing:DescribeListeners"])  # paginator


@pytest.mark.parametrize("module", sorted(ia.MODULE_ACTIONS))
def test_module_map_is_true_to_the_module_source(module):
    entry = ia.MODULE_ACTIONS[module]
    in_source = scan.module_source_actions(module)
    named = set(entry["calls"]) | set(a for a in entry["not_granted"] if a != "*")
    assert named - in_source == set(), "%s: named in MODULE_ACTIONS but not in its source" % module
    if "*" not in entry["not_granted"]:
        assert in_source - named == set(), "%s may call these, neither granted nor explained" % module
    assert all(why.strip() for why in entry["not_granted"].values())
    assert not set(entry["calls"]) & set(entry["not_granted"])


def test_scanner_finds_calls_by_receiver_paginator_and_waiter():
    source = '''
ecs = module.client("ecs")
elbv2 = module.client("elbv2")
ecs.delete_service(cluster="c", service="s")
elbv2.get_paginator("describe_rules").paginate(ListenerArn="x")
ecs.get_waiter("services_stable").wait()
paginate(elbv2, "describe_target_groups", "TargetGroups")
self.client.describe_tags(ResourceArns=[])
'''
    found, ambiguous = scan.scan_source(source, where="x.py")
    assert set(found) == {"ecs:DeleteService", "elasticloadbalancing:DescribeRules", "ecs:DescribeServices",
                          "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTags"}
    assert found["ecs:DeleteService"] == ["x.py:4"]
    assert ambiguous == []


def test_scanner_reports_a_call_it_cannot_place():
    source = 'a = module.client("ecs")\nb = module.client("ssm")\nc.list_tags_for_resource(ResourceId="x")\n'
    found, ambiguous = scan.scan_source(source, where="y.py")
    assert found == {} and ambiguous == [("y.py:3", "list_tags_for_resource", ["ecs", "ssm"])]


def test_modules_used_reads_task_keys(tmp_path):
    (tmp_path / "tasks.yml").write_text("- name: x\n  community.aws.ecs_tag:\n    resource: s\n"
                                        "- community.aws.elb_target:\n    x: 1\n# amazon.aws.s3_object: in a comment\n")
    assert scan.modules_used([tmp_path]) == {"community.aws.ecs_tag": ["tasks.yml"], "community.aws.elb_target": ["tasks.yml"]}


def test_every_granted_action_has_a_scope_and_every_star_a_reason():
    kinds = set(kind for kind, dummy, dummy2 in ia.SCOPE_STATEMENTS)
    for action in ia.policy_actions():
        assert action in ia.ACTION_SCOPES, "%s has no resource kind in iam_actions.ACTION_SCOPES" % action
        assert ia.ACTION_SCOPES[action] in kinds
        if ia.ACTION_SCOPES[action] == "any":
            assert ia.WILDCARD_REASONS.get(action), "%s is granted on * without a reason in WILDCARD_REASONS" % action


def test_the_cli_exits_0_on_this_tree():
    import subprocess
    out = subprocess.run([sys.executable, str(REPO / "tools" / "iam_action_scan.py")], capture_output=True, text=True,
                         cwd=str(REPO), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all in the list, none listed unused" in out.stdout
