#!/usr/bin/env python3
"""Print the least-privilege IAM policy of the ECS blue-green flow (and the VM path's target calls) as JSON.

Rendered from the one list in plugins/module_utils/iam_actions.py (the list iam_preflight simulates).

  --inventory DIR [--group NAME]   scope every statement to the inventory's names: cluster and slot services, slot
                                   target groups, the load balancer's listeners, the lock parameter, the ECR
                                   repository, iam:PassRole on the task and execution roles. Names come from the
                                   inventory's group_vars (all, then NAME): ecs_validate_app / _cluster /
                                   _load_balancer / _lock_name / _ecr_repository, aws_region,
                                   vm_deploy_target_group_name / vm_deploy_s3_bucket, and ecs_validate_iam_scope
                                   (account_id, pass_roles, secrets, log_groups, deployer_arns, ...; see the guide).
  --explain                        instead of the JSON: each statement, its actions, and why it keeps "*" or what
                                   it is scoped to.
  --resource ARN                   (repeatable) without --inventory: every statement on these resources (default *).
  --write PATH / --check PATH      write the policy to PATH / exit 1 when PATH differs from what is rendered.

docs/iam-policy.json is `--inventory inventories/example --group production`.
  --set adopt                      adoption's own policy instead (playbooks/ecs_adopt.yml, docs/iam-policy-adopt.json).
"""
import argparse
import importlib.util
import json
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# Loaded by path so the tool runs from a plain checkout, without the collection on sys.path.
SOURCE = REPO / "plugins" / "module_utils" / "iam_actions.py"
DOCS_ARGS = ("--inventory", "inventories/example", "--group", "production")
DEFAULT_LITERAL = re.compile(r"default\(\s*'([^']*)'\s*\)")


def load_iam_actions():
    spec = importlib.util.spec_from_file_location("iam_actions", str(SOURCE))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _group_vars(directory):
    """Variables of one group_vars entry: a file NAME.yml or every YAML file of a directory NAME/."""
    out = {}
    if directory.is_dir():
        files = sorted(p for p in directory.iterdir() if p.suffix in (".yml", ".yaml"))
    else:
        files = [p for p in (directory.with_suffix(".yml"), directory.with_suffix(".yaml")) if p.exists()]
    for path in files:
        out.update(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    return out


def inventory_vars(inventory, groups=()):
    """group_vars of `all`, then of each group named (later wins), of an inventory directory."""
    base = Path(inventory) / "group_vars"
    if not base.is_dir():
        raise SystemExit("%s has no group_vars directory" % inventory)
    variables = {}
    for group in ("all",) + tuple(groups):
        variables.update(_group_vars(base / group))
    for path in sorted(base.iterdir()):        # other groups' VM target group / bucket names, e.g. vm_hosts
        stem = path.name.split(".")[0]
        if stem not in ("all",) + tuple(groups):
            other = _group_vars(base / stem)
            for key in ("vm_deploy_target_group_name", "vm_deploy_s3_bucket"):
                variables.setdefault(key, other.get(key))
    return variables


def _literal(value):
    """A plain name; for a templated one its `default('...')` literal; None when neither."""
    if not isinstance(value, str) or not value:
        return None
    if "{{" not in value:
        return value
    match = DEFAULT_LITERAL.search(value)
    return match.group(1) if match and match.group(1) else None


def scope_from_vars(variables):
    """The scope (iam_actions.scope_names input) an inventory's variables give."""
    scope = {}
    for key, var in (("app", "ecs_validate_app"), ("cluster", "ecs_validate_cluster"), ("region", "aws_region"),
                     ("load_balancer", "ecs_validate_load_balancer"), ("lock", "ecs_validate_lock_name"),
                     ("repository", "ecs_validate_ecr_repository")):
        value = _literal(variables.get(var))
        if value:
            scope[key] = value
    for key, var in (("vm_target_groups", "vm_deploy_target_group_name"), ("buckets", "vm_deploy_s3_bucket")):
        value = _literal(variables.get(var))
        if value:
            scope[key] = [value]
    scope.update(variables.get("ecs_validate_iam_scope") or {})
    return scope


def render(resources=None, inventory=None, groups=(), action_set="deploy"):
    """The policy document as the text written to docs/iam-policy.json (docs/iam-policy-adopt.json for `adopt`)."""
    ia = load_iam_actions()
    if action_set != "deploy":
        document = ia.policy_document([action for action, dummy in ia.ACTION_SETS[action_set]],
                                      resources=resources or "*")
    elif inventory:
        scope = scope_from_vars(inventory_vars(inventory, groups))
        errors = ia.check_scope(scope)
        if errors:
            raise SystemExit("%s: %s" % (inventory, "; ".join(errors)))
        document = ia.policy_document(names=ia.scope_names(scope))
    else:
        document = ia.policy_document(resources=resources or "*")
    return json.dumps(document, indent=2) + "\n"


def explain(inventory=None, groups=()):
    ia = load_iam_actions()
    scope = scope_from_vars(inventory_vars(inventory, groups)) if inventory else {}
    lines = []
    for sid, actions, why in ia.statement_reasons(ia.scope_names(scope)):
        lines.append("%s: %s\n    %s" % (sid, ", ".join(actions), why))
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resource", action="append", help="resource ARN the statements apply to (default *)")
    parser.add_argument("--inventory", help="inventory directory whose group_vars name the resources")
    parser.add_argument("--group", action="append", default=[], help="group whose group_vars apply after all's")
    parser.add_argument("--explain", action="store_true", help="print why each statement keeps * or what it scopes")
    parser.add_argument("--set", dest="action_set", choices=("deploy", "adopt"), default="deploy",
                        help="deploy: the blue-green flow's policy (default); adopt: adoption's")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="PATH", help="write the policy to PATH instead of printing it")
    target.add_argument("--check", metavar="PATH", help="exit 1 when PATH differs from the rendered policy")
    args = parser.parse_args(argv)
    if args.resource and args.inventory:
        parser.error("--resource and --inventory exclude each other")
    if args.explain:
        sys.stdout.write(explain(args.inventory, tuple(args.group)))
        return 0
    text = render(args.resource, args.inventory, tuple(args.group), args.action_set)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        return 0
    if args.check:
        path = Path(args.check)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            how = (["--inventory", args.inventory] if args.inventory else []) + [
                x for g in args.group for x in ("--group", g)] + [x for r in args.resource or [] for x in ("--resource", r)]
            sys.stderr.write("%s is out of date: run python tools/render_iam_policy.py %s\n"
                             % (path, " ".join(how + ["--write", str(path)])))
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
