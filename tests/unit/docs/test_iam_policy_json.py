"""docs/iam-policy.json is what tools/render_iam_policy.py renders from the list iam_preflight checks."""
import json
import subprocess
import sys
from pathlib import Path

from ansible_collections.progressive.delivery.plugins.module_utils import iam_actions

REPO = Path(__file__).resolve().parents[3]
POLICY = REPO / "docs" / "iam-policy.json"
RENDERER = REPO / "tools" / "render_iam_policy.py"
DOCS = ("--inventory", "inventories/example", "--group", "production")


def run_renderer(*args):
    return subprocess.run([sys.executable, str(RENDERER)] + list(args), capture_output=True, text=True,
                          cwd=str(REPO), timeout=60)


def granted_actions(document):
    return {action for statement in document["Statement"] if statement["Effect"] == "Allow"
            for action in statement["Action"]}


def test_committed_policy_is_what_the_renderer_produces():
    rendered = run_renderer(*DOCS)
    assert rendered.returncode == 0, rendered.stderr
    assert POLICY.read_text(encoding="utf-8") == rendered.stdout, (
        "docs/iam-policy.json has drifted from plugins/module_utils/iam_actions.py: "
        "run python tools/render_iam_policy.py %s --write docs/iam-policy.json" % " ".join(DOCS))


def test_committed_policy_grants_every_action_iam_preflight_checks_and_nothing_else():
    document = json.loads(POLICY.read_text(encoding="utf-8"))
    assert document["Version"] == "2012-10-17"
    assert granted_actions(document) == set(iam_actions.policy_actions())
    assert not any("*" in action for action in granted_actions(document))
    pass_role = [s for s in document["Statement"] if "iam:PassRole" in s["Action"]]
    assert pass_role == [dict(pass_role[0], Condition=iam_actions.PASS_ROLE_CONDITION)]
    assert pass_role[0]["Action"] == ["iam:PassRole"]
    assert pass_role[0]["Resource"] == ["arn:aws:iam::111122223333:role/myapp-task-role",
                                        "arn:aws:iam::111122223333:role/myapp-execution-role"]
    # `*` only for actions AWS gives no resource type, each with its reason
    star = [a for s in document["Statement"] if s["Resource"] == "*" for a in s["Action"]]
    assert star and all(iam_actions.WILDCARD_REASONS.get(a) for a in star)
    scoped = [r for s in document["Statement"] if s["Resource"] != "*"
              for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    assert all(":111122223333:" in r or r.startswith("arn:aws:s3:::myapp-release-artifacts") for r in scoped), scoped


def test_write_then_check_round_trip(tmp_path):
    target = tmp_path / "policy.json"
    assert run_renderer(*DOCS, "--write", str(target)).returncode == 0
    assert target.read_text(encoding="utf-8") == POLICY.read_text(encoding="utf-8")
    assert run_renderer(*DOCS, "--check", str(target)).returncode == 0


def test_check_fails_on_a_policy_missing_an_action(tmp_path):
    document = json.loads(POLICY.read_text(encoding="utf-8"))
    document["Statement"][0]["Action"].pop()
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    checked = run_renderer(*DOCS, "--check", str(stale))
    assert checked.returncode == 1
    assert "out of date" in checked.stderr and "--inventory inventories/example --group production --write" in checked.stderr
    assert run_renderer(*DOCS, "--check", str(tmp_path / "absent.json")).returncode == 1


def test_resource_option_scopes_every_statement():
    arn = "arn:aws:ecs:eu-west-1:123456789012:service/prod/*"
    rendered = run_renderer("--resource", arn)
    assert rendered.returncode == 0
    assert {s["Resource"] for s in json.loads(rendered.stdout)["Statement"]} == {arn}


def test_lab_inventory_renders_the_policy_the_lab_enforces():
    """The lab's deployer (lab/aws/iam_enforce.py) holds what this renders for inventories/lab."""
    rendered = run_renderer("--inventory", "inventories/lab")
    assert rendered.returncode == 0, rendered.stderr
    document = json.loads(rendered.stdout)
    services = [s for s in document["Statement"] if s["Sid"] == "SlotServices"][0]
    assert services["Resource"] == ["arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-a",
                                    "arn:aws:ecs:us-east-1:123456789012:service/prod-ecs-cluster/myapp-b"]
    vm = [s for s in document["Statement"] if s["Sid"] == "VmTargetGroups"][0]
    assert vm["Resource"] == "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/myapp-vm/*"


def test_explain_says_why_each_star_stays():
    out = run_renderer(*DOCS, "--explain")
    assert out.returncode == 0, out.stderr
    assert "NoResourceLevelPermissions:" in out.stdout and "cloudwatch:GetMetricData: no resource type" in out.stdout
    assert "PassTaskRolesToEcsTasks: iam:PassRole" in out.stdout and "iam:PassedToService" in out.stdout


def test_committed_adoption_policy_is_what_the_renderer_produces_and_grants_only_adoption_actions():
    rendered = run_renderer("--set", "adopt")
    assert rendered.returncode == 0, rendered.stderr
    path = REPO / "docs" / "iam-policy-adopt.json"
    assert path.read_text(encoding="utf-8") == rendered.stdout, (
        "docs/iam-policy-adopt.json has drifted: run python tools/render_iam_policy.py --set adopt --write docs/iam-policy-adopt.json")
    granted = granted_actions(json.loads(rendered.stdout))
    assert granted == set(iam_actions.adopt_actions())
    # adoption creates and deletes what a deployment never does: those stay out of the deployer's policy
    for action in ("ecs:DeleteService", "elasticloadbalancing:CreateListener", "elasticloadbalancing:DeleteTargetGroup"):
        assert action in granted and action not in iam_actions.required_actions()
    assert all(purpose.strip() for dummy, purpose in iam_actions.ECS_ADOPT_ACTIONS)
