#!/usr/bin/env python3
"""Print the least-privilege IAM policy of the ECS blue-green flow as JSON.

Rendered from the one list in plugins/module_utils/iam_actions.py (the list iam_preflight
simulates). `python tools/render_iam_policy.py --write docs/iam-policy.json` refreshes the committed
policy; `--check docs/iam-policy.json` exits 1 when it has drifted from the list.
Options: --resource ARN (repeatable; default "*"); --set adopt renders adoption's own policy instead
(playbooks/ecs_adopt.yml, docs/iam-policy-adopt.json).
"""
import argparse
import importlib.util
import json
import sys
from pathlib import Path

# Loaded by path so the tool runs from a plain checkout, without the collection on sys.path.
SOURCE = Path(__file__).resolve().parents[1] / "plugins" / "module_utils" / "iam_actions.py"


def load_iam_actions():
    spec = importlib.util.spec_from_file_location("iam_actions", str(SOURCE))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def render(resources=None, action_set="deploy"):
    """The policy document as the text written to docs/iam-policy.json (docs/iam-policy-adopt.json for `adopt`)."""
    module = load_iam_actions()
    actions = [action for action, dummy in module.ACTION_SETS[action_set]]
    document = module.policy_document(actions, resources=resources or "*")
    return json.dumps(document, indent=2) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resource", action="append", help="resource ARN the statements apply to (default *)")
    parser.add_argument("--set", dest="action_set", choices=("deploy", "adopt"), default="deploy",
                        help="deploy: the blue-green flow's policy (default); adopt: adoption's")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="PATH", help="write the policy to PATH instead of printing it")
    target.add_argument("--check", metavar="PATH", help="exit 1 when PATH differs from the rendered policy")
    args = parser.parse_args(argv)
    text = render(args.resource, args.action_set)
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        return 0
    if args.check:
        path = Path(args.check)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            sys.stderr.write("%s is out of date: run python tools/render_iam_policy.py --write %s\n" % (path, path))
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
