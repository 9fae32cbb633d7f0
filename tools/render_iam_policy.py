#!/usr/bin/env python3
"""Print the least-privilege IAM policy of the ECS blue-green flow as JSON.

Rendered from the one list in plugins/module_utils/iam_actions.py (the list iam_preflight
simulates), e.g. `python tools/render_iam_policy.py > docs/iam-policy.json`.
Options: --resource ARN (repeatable; default "*").
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resource", action="append", help="resource ARN the statements apply to (default *)")
    args = parser.parse_args(argv)
    iam_actions = load_iam_actions()
    document = iam_actions.policy_document(resources=args.resource or "*")
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
