#!/usr/bin/env python3
"""Which IAM actions the collection calls, read from its source, against the list it grants.

  python tools/iam_action_scan.py          prints the actions called but not in plugins/module_utils/iam_actions.py
                                           (missing) and those listed but called nowhere (unused); exit 1 if any.

Called = every boto3 operation in plugins/ (client.<operation>(...), get_paginator("<operation>"), get_waiter),
mapped to its IAM action (`<signing name>:<Operation>`), plus for every amazon.aws / community.aws module a role or
playbook uses, the actions iam_actions.MODULE_ACTIONS says it calls, plus iam_actions.IMPLIED_ACTIONS (iam:PassRole).
tests/unit/plugins/module_utils/test_iam_action_coverage.py runs the same checks.
"""
import ast
import importlib.util
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The IAM prefix of a service whose signing name differs from it.
IAM_PREFIX = {"monitoring": "cloudwatch"}
# S3 operations checked as another action (the Service Authorization Reference's "Dependent" mapping).
S3_ACTION = {"HeadObject": "GetObject", "HeadBucket": "ListBucket", "ListObjectsV2": "ListBucket",
             "ListObjects": "ListBucket"}
# Receiver names that say which service a client is (ecs.describe_services, self.client.put_log_events, ...).
RECEIVER_SERVICE = {"ecs": "ecs", "elbv2": "elbv2", "elb": "elbv2", "ssm": "ssm", "sts": "sts", "iam": "iam",
                    "ecr": "ecr", "cloudwatch": "cloudwatch", "cw": "cloudwatch", "logs": "logs",
                    "secretsmanager": "secretsmanager", "sm": "secretsmanager", "s3": "s3", "ec2": "ec2",
                    "servicequotas": "service-quotas", "quotas": "service-quotas"}
MODULE_RE = re.compile(r"^\s*(?:-\s+)?((?:amazon|community)\.aws\.[a-z0-9_]+):", re.M)


def load_iam_actions():
    spec = importlib.util.spec_from_file_location("iam_actions", str(REPO / "plugins" / "module_utils" / "iam_actions.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_MODELS = {}


def service_ops(service):
    """{python_name: IAM action} of a boto3 service, and {waiter name: IAM action}."""
    if service not in _MODELS:
        import botocore.session
        from botocore import xform_name
        session = botocore.session.get_session()
        model = session.get_service_model(service)
        prefix = IAM_PREFIX.get(model.signing_name, model.signing_name)
        if prefix == "servicequotas" or service == "service-quotas":
            prefix = "servicequotas"

        def action(op):
            if prefix == "s3":
                op = S3_ACTION.get(op, op)
            return "%s:%s" % (prefix, op)
        ops = dict((xform_name(op), action(op)) for op in model.operation_names)
        waiters = {}
        try:
            waiter_model = session.get_waiter_model(service)
            for name in waiter_model.waiter_names:
                waiters[xform_name(name)] = action(waiter_model.get_waiter(name).operation)
        except Exception:   # a service without waiters
            pass
        _MODELS[service] = (ops, waiters)
    return _MODELS[service]


def _string_arg(call, index=0):
    if len(call.args) > index and isinstance(call.args[index], ast.Constant) and isinstance(call.args[index].value, str):
        return call.args[index].value
    return None


def _receiver_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def client_services(tree):
    """Services a source creates clients for: module.client("ecs"), session.client("logs", ...), client("ssm", r)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name == "client" and _string_arg(node):
                out.add(_string_arg(node))
    return out


def scan_source(text, services=None, where="<source>"):
    """(actions {action: [where:line]}, ambiguous [(where:line, name, candidate services)]) of one Python source.

    `services`: the services to look for (default: those the source creates clients for)."""
    tree = ast.parse(text)
    own = client_services(tree)
    services = set(services or own)
    found, ambiguous = {}, []

    def add(action, node):
        found.setdefault(action, []).append("%s:%d" % (where, node.lineno))

    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("get_paginator", "get_waiter", "paginate"):
            op_name = _string_arg(node) or _string_arg(node, 1)
            if op_name:
                # ecs.get_paginator("list_services") is ECS's, even in a source that also has a Service Quotas client
                named = RECEIVER_SERVICE.get(_receiver_name(func.value)) if isinstance(func, ast.Attribute) else None
                if named is None and node.args and not _string_arg(node):
                    named = RECEIVER_SERVICE.get(_receiver_name(node.args[0]))  # reads.paginate(ecs, "list_services")
                for service in sorted([named] if named in services else services):
                    ops, waiters = service_ops(service)
                    table = waiters if name == "get_waiter" else ops
                    if op_name in table:
                        add(table[op_name], node)
            continue
        if not isinstance(func, ast.Attribute):
            continue
        candidates = [s for s in sorted(services) if name in service_ops(s)[0]]
        if not candidates:
            continue
        receiver = func.value
        service = None
        if isinstance(receiver, ast.Call) and _string_arg(receiver) in candidates:
            service = _string_arg(receiver)                     # client("secretsmanager", region).describe_secret()
        elif RECEIVER_SERVICE.get(_receiver_name(receiver)) in candidates:
            service = RECEIVER_SERVICE[_receiver_name(receiver)]
        elif len(candidates) == 1:
            service = candidates[0]
        elif len([s for s in candidates if s in own]) == 1:
            service = [s for s in candidates if s in own][0]
        if service:
            add(service_ops(service)[0][name], node)
        else:
            ambiguous.append(("%s:%d" % (where, node.lineno), name, candidates))
    return found, ambiguous


def scan_plugins(root=REPO / "plugins"):
    """Actions the collection's own code calls: {action: [file:line]}, and the ambiguous calls."""
    paths = sorted(Path(root).rglob("*.py"))
    services = set()
    for path in paths:
        services |= client_services(ast.parse(path.read_text(encoding="utf-8")))
    found, ambiguous = {}, []
    for path in paths:
        f, a = scan_source(path.read_text(encoding="utf-8"), services, str(path.relative_to(REPO)))
        for action, where in f.items():
            found.setdefault(action, []).extend(where)
        ambiguous += a
    return found, ambiguous


def modules_used(roots=(REPO / "roles", REPO / "playbooks")):
    """{amazon.aws / community.aws module: [file]} used as a task in roles/ and playbooks/."""
    out = {}
    for root in roots:
        for path in sorted(Path(root).rglob("*.y*ml")):
            for name in MODULE_RE.findall(path.read_text(encoding="utf-8")):
                where = path.relative_to(REPO) if REPO in path.parents else path.relative_to(root)
                out.setdefault(name, []).append(str(where))
    return out


def _imported_helpers(text):
    """[(namespace, util module, function)] a module imports from amazon.aws / community.aws module_utils."""
    out = []
    for ns, util, names in re.findall(
            r"from ansible_collections\.(amazon|community)\.aws\.plugins\.module_utils\.([a-z0-9_]+) import ([A-Za-z0-9_, ]+)",
            text):
        out += [(ns, util, n.strip()) for n in names.split(",") if n.strip()]
    return out


def module_source_actions(fqcn):
    """Every IAM action the source of an installed amazon.aws / community.aws module may call: its own code and the
    module_utils functions it imports (one level: the helpers' bodies, not what they call in turn)."""
    import ansible_collections
    namespace, collection, name = fqcn.split(".")
    bases = [Path(p) for p in ansible_collections.__path__
             if (Path(p) / namespace / collection / "plugins" / "modules" / (name + ".py")).exists()]
    if not bases:
        raise FileNotFoundError("%s is not installed (looked in %s)" % (fqcn, list(ansible_collections.__path__)))
    base = bases[0]
    path = base / namespace / collection / "plugins" / "modules" / (name + ".py")
    text = path.read_text(encoding="utf-8")
    sources = [(text, str(path))]
    for ns, util, function in _imported_helpers(text):
        util_path = base / ns / "aws" / "plugins" / "module_utils" / (util + ".py")
        if not util_path.exists():
            continue
        util_text = util_path.read_text(encoding="utf-8")
        defs = dict((n.name, n) for n in ast.parse(util_text).body if isinstance(n, ast.FunctionDef))
        todo, seen = [function], set()
        while todo and len(seen) < 50:             # the helper, and the helpers of the same file it calls
            current = todo.pop()
            if current in seen or current not in defs:
                continue
            seen.add(current)
            sources.append((ast.get_source_segment(util_text, defs[current]), "%s:%s" % (util_path, current)))
            todo += [c.func.id for c in ast.walk(defs[current]) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)]
    services = set()
    for source, dummy in sources:
        services |= client_services(ast.parse(source))
    services |= set(s for s in ("s3", "ec2") if re.search(r"client\(\s*[\"']%s[\"']" % s, text))
    actions = set()
    for source, where in sources:
        found, dummy = scan_source(source, services, where)
        actions |= set(found)
    return actions


def coverage(ia=None):
    """{"called": {action: [where]}, "missing": [...], "unused": [...], "unmapped_modules": {...}, "ambiguous": [...]}"""
    ia = ia or load_iam_actions()
    called, ambiguous = scan_plugins()
    used = modules_used()
    unmapped = dict((m, files) for m, files in used.items() if m not in ia.MODULE_ACTIONS)
    for module, files in used.items():
        for action in ia.MODULE_ACTIONS.get(module, {}).get("calls", []):
            called.setdefault(action, []).append("%s (%s)" % (module, files[0]))
    # Adoption drives community.aws.ecs_service / elb_target_group to create and delete (MODULE_ACTIONS maps their
    # deploy-time use): its own list says which module option calls each action.
    for action, why in getattr(ia, "ECS_ADOPT_ACTIONS", ()):
        if "ecs_service" in why or "elb_target_group" in why:
            called.setdefault(action, []).append("adoption: " + why)
    for action, why in ia.IMPLIED_ACTIONS.items():
        called.setdefault(action, []).append("implied: " + why)
    # The deployer's policy and adoption's own (playbooks/ecs_adopt.yml, docs/iam-policy-adopt.json).
    listed = set(ia.policy_actions()) | set(ia.adopt_actions())
    not_granted = set(a for m in used for a in ia.MODULE_ACTIONS.get(m, {}).get("not_granted", {}))
    missing = sorted(a for a in called if a not in listed and a not in not_granted)
    unused = sorted(a for a in listed if a not in called)
    return {"called": called, "missing": missing, "unused": unused, "unmapped_modules": unmapped, "ambiguous": ambiguous}


def main():
    result = coverage()
    for action in result["missing"]:
        print("missing  %-50s called at %s" % (action, ", ".join(result["called"][action][:3])))
    for action in result["unused"]:
        print("unused   %s" % action)
    for module, files in result["unmapped_modules"].items():
        print("unmapped %-50s used in %s: add it to iam_actions.MODULE_ACTIONS" % (module, ", ".join(files)))
    for where, name, candidates in result["ambiguous"]:
        print("ambiguous %s %s (one of %s): name the client after its service" % (where, name, ", ".join(candidates)))
    bad = result["missing"] or result["unused"] or result["unmapped_modules"] or result["ambiguous"]
    if not bad:
        print("%d actions called, all in the list, none listed unused" % len(result["called"]))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
