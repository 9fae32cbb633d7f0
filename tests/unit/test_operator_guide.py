"""docs/operator-guide.md cannot silently drift from the repository.

Everything the guide tells an operator to type or set is checked against what exists: make targets in the
Makefile, repository paths, role and play variables (argument specs, playbooks, inventories), lab subcommands,
environment variables, ansible-doc names, cw_compare knobs, and the error messages its troubleshooting table quotes.
Each checker is also run on a made-up name, so none of them can pass by finding nothing.
"""
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "operator-guide.md"

# Repository-relative paths the guide names that are made by a run, not kept in git.
GENERATED = ("build/", ".lab/", "deployment-reports/", "artifacts/")
ROOT_FILES = ("execution-environment.yml", "requirements.txt", "requirements-dev.txt", "requirements.yml",
              "bindep.txt", "galaxy.yml", "ansible.cfg", "Makefile")
TOP_DIRS = ("playbooks", "inventories", "docs", "tools", "awx", "roles", "lab", "bench", "plugins", "tests", "meta",
            "examples", "molecule")
VARIABLE_PREFIXES = ("ecs_validate", "ecs_adopt", "ecs_green_deploy", "ecs_traffic_shift", "ecs_cleanup", "ecs_rollback",
                     "deploy_notify", "vm_deploy", "vm_rolling", "ecs_bg", "deployment_report", "deploy_controller",
                     "aws_")


def guide_text():
    return GUIDE.read_text(encoding="utf-8")


def code_spans(text):
    """Inline `code` and the lines of fenced blocks."""
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        spans.extend(block.splitlines())
    return spans


def section(text, title_start):
    match = re.search(r"^## %s.*?(?=^## |\Z)" % re.escape(title_start), text, flags=re.S | re.M)
    assert match, "section %r not found in the guide" % title_start
    return match.group(0)


# --- what exists ---------------------------------------------------------------------------------------------

def make_targets():
    return set(re.findall(r"^([A-Za-z][A-Za-z0-9_-]*):", (REPO / "Makefile").read_text(), flags=re.M))


def argument_spec_options():
    options = set()
    for spec_file in REPO.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec_file.read_text())["argument_specs"].values():
            options.update((entry.get("options") or {}).keys())
    return options


def known_variables():
    """Role options, role names, and every word the playbooks and inventories use (play variables, inventory vars)."""
    known = argument_spec_options() | {p.name for p in (REPO / "roles").iterdir() if p.is_dir()}
    for path in list(REPO.glob("playbooks/*.yml")) + list(REPO.glob("inventories/**/*.yml")):
        known.update(re.findall(r"\b[a-z][a-z0-9_]*\b", path.read_text()))
    return known


def lab_settings():
    return set(re.findall(r'_env\("([A-Z_]+)"', (REPO / "lab" / "config.py").read_text()))


def callback_env_vars():
    return set(re.findall(r"name: (DEPLOYMENT_AUDIT_[A-Z_]+)", (REPO / "plugins" / "callback" / "deployment_audit.py").read_text()))


def collection_content_names():
    names = {p.stem for p in (REPO / "plugins" / "modules").glob("*.py")}
    names |= {p.stem for p in (REPO / "plugins" / "callback").glob("*.py")}
    names |= {p.stem for p in (REPO / "plugins" / "filter").glob("*.yml")}
    names |= {p.name for p in (REPO / "roles").iterdir() if p.is_dir()}
    names |= {p.stem for p in (REPO / "playbooks").glob("*.yml")}
    return names


def cw_compare_metric_fields():
    source = (REPO / "plugins" / "modules" / "cw_compare.py").read_text()
    doc = yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, flags=re.S).group(1))
    return set(doc["options"]["metrics"]["suboptions"])


def message_sources():
    """The text of the code that can print a message, whitespace collapsed (YAML folds long messages)."""
    files = list(REPO.glob("roles/*/tasks/*.yml")) + list(REPO.glob("playbooks/**/*.yml"))
    files += list(REPO.glob("plugins/**/*.py"))
    return re.sub(r"\s+", " ", "\n".join(p.read_text(encoding="utf-8") for p in files))


# --- what the guide names ------------------------------------------------------------------------------------

def make_commands(text):
    return set(re.findall(r"\bmake +([a-z][a-z0-9-]*)", "\n".join(code_spans(text))))


def repo_paths(text):
    found = set()
    for span in code_spans(text):
        for token in re.findall(r"(?<![\w./~-])((?:%s)/[A-Za-z0-9_./-]*[A-Za-z0-9_]|(?:%s))(?![\w/-])"
                                % ("|".join(TOP_DIRS), "|".join(re.escape(f) for f in ROOT_FILES)), span):
            found.add(token)
    return found


def variables(text):
    names = set()
    for span in code_spans(text):
        for token in re.findall(r"(?<![\w.$/-])([a-z][a-z0-9_]*)(?![\w<*])", span):
            if token.startswith(VARIABLE_PREFIXES) and not token.endswith("_"):
                names.add(token)
    return names


def lab_subcommands(text):
    spans = "\n".join(code_spans(text))
    return set(re.findall(r"python -m lab +(\w+)", spans)), set(re.findall(r"python -m lab +traffic +(\w+)", spans))


def env_vars(text, prefix):
    return set(re.findall(r"\b%s[A-Z_]*[A-Z]\b" % prefix, text))


def fqcn_names(text):
    return set(re.findall(r"\bprogressive\.delivery\.([a-z_]+)\b", text)) - {"aws"}


def quoted_messages(text):
    """The backticked messages in the first column of the troubleshooting table."""
    table = section(text, "7. Troubleshooting")
    messages = []
    for row in re.findall(r"^\| (.+?) \| ", table, flags=re.M):
        messages.extend(m for m in re.findall(r"`([^`]+)`", row.replace("\\|", "|")))
    return messages


# Sample values the guide's messages show in place of what a run prints (the lab's names, counts, severities).
SAMPLE_VALUES = r"\b(?:myapp(?:-[ab])?|[NMX]|Ns|HIGH|IN_PROGRESS|owner)\b|(?<=slot )[ab]\b"
# Messages the guide quotes that come from botocore or amazon.aws, not from this collection.
PRINTED_BY_OTHERS = ("Could not connect to the endpoint URL", "Unable to describe target group")


def literal_fragments(message):
    """Parts of a quoted message that the code prints word for word: runs of 3+ words between placeholders
    (`...`, `<name>`, sample values, numbers, paths, JSON) and between the `;` / `:` that join composed messages."""
    cleaned = re.sub(r"<[^>]*>|\.\.\.|\S*\d\S*|\S*/\S*|\{[^}]*\}|\"[^\"]*\"|[;:]|" + SAMPLE_VALUES, "\0", message)
    fragments = []
    for part in cleaned.split("\0"):
        part = part.strip(" ,()'").strip()
        if len(re.findall(r"[A-Za-z_=-]+", part)) >= 3 and re.fullmatch(r"[A-Za-z_ ,'()=|-]+", part) \
                and part not in PRINTED_BY_OTHERS:
            fragments.append(part)
    return fragments


# --- the checks ----------------------------------------------------------------------------------------------

def test_the_guide_exists_and_covers_the_journey():
    text = guide_text()
    for title in ("1. Install", "2. First deployment in the lab", "3. A bad release", "4. Manual rollback",
                  "5. Moving to AWS", "6. Tuning", "7. Troubleshooting"):
        section(text, title)
    assert "docs/operator-guide.md" in (REPO / "README.md").read_text(), "README.md should link the operator guide"


def test_make_targets_exist():
    targets = make_targets()
    named = make_commands(guide_text())
    assert {"setup", "lab-up", "demo", "lab-status", "build"} <= named
    assert named - targets == set(), "make targets in the guide but not in the Makefile"
    assert make_commands("`make no-such-target`") - targets == {"no-such-target"}


def test_repository_paths_exist():
    paths = repo_paths(guide_text())
    assert {"playbooks/ecs_blue_green.yml", "playbooks/ecs_rollback.yml", "playbooks/vm_rolling.yml",
            "playbooks/vm_rollback.yml", "inventories/example", "docs/iam-policy.json"} <= paths
    missing = sorted(p for p in paths if not p.startswith(GENERATED) and not (REPO / p).exists())
    assert missing == [], "paths in the guide that are not in the repository"
    assert repo_paths("`playbooks/ecs_blue_greem.yml`") == {"playbooks/ecs_blue_greem.yml"}


def test_variables_are_real_inputs():
    known = known_variables()
    named = variables(guide_text())
    assert {"ecs_validate_image_tag", "ecs_validate_steps", "ecs_traffic_shift_inconclusive_policy",
            "ecs_rollback_to_slot", "vm_rolling_serial", "deployment_report_dir"} <= named
    assert sorted(named - known) == [], "variables in the guide that no argument spec, playbook or inventory has"
    assert variables("`-e ecs_validate_imagetag=v1`") - known == {"ecs_validate_imagetag"}


def test_lab_commands_exist():
    lab_main = (REPO / "lab" / "__main__.py").read_text()
    traffic = (REPO / "lab" / "traffic.py").read_text()
    commands, traffic_commands = lab_subcommands(guide_text())
    assert {"up", "status", "reset", "traffic"} <= commands and {"start", "stop", "report"} <= traffic_commands
    assert sorted(c for c in commands if '"%s"' % c not in lab_main) == []
    assert sorted(c for c in traffic_commands if '"%s"' % c not in traffic) == []
    assert lab_subcommands("`python -m lab explode`")[0] == {"explode"} and '"explode"' not in lab_main


def test_environment_variables_exist():
    text = guide_text()
    lab = {name[len("LAB_"):] for name in env_vars(text, "LAB_")}
    assert {"AWS_PORT", "STATE_DIR"} <= lab and sorted(lab - lab_settings()) == []
    audit = env_vars(text, "DEPLOYMENT_AUDIT_")
    assert "DEPLOYMENT_AUDIT_FILE" in audit and sorted(audit - callback_env_vars()) == []
    assert env_vars("`DEPLOYMENT_AUDIT_FOLDER`", "DEPLOYMENT_AUDIT_") - callback_env_vars() == {"DEPLOYMENT_AUDIT_FOLDER"}


def test_collection_names_exist():
    named = fqcn_names(guide_text())
    assert {"ecs_validate", "cw_compare", "deployment_audit"} <= named
    assert sorted(named - collection_content_names()) == []
    assert fqcn_names("progressive.delivery.cw_compair") - collection_content_names() == {"cw_compair"}


def test_judge_knobs_are_cw_compare_metric_fields():
    tuning = section(guide_text(), "6. Tuning")
    table = re.search(r"\| knob \|.*?\n\n", tuning, flags=re.S).group(0)
    knobs = {k for k in re.findall(r"^\| `([a-z_]+)`", table, flags=re.M) if not k.startswith("ecs_")}
    assert {"tolerance", "min_requests", "min_samples", "critical", "max"} <= knobs
    assert sorted(knobs - cw_compare_metric_fields()) == []


def test_troubleshooting_messages_are_what_the_code_prints():
    sources = message_sources()
    messages = quoted_messages(guide_text())
    assert len(messages) >= 15
    fragments = [f for m in messages for f in literal_fragments(m)]
    assert len(fragments) >= 15
    assert sorted(f for f in fragments if f not in sources) == [], "messages the guide quotes that the code no longer prints"
    assert "the lock is held by a dragon" not in sources


@pytest.mark.parametrize("message, expected", [
    ("deployment lock ... is held by <x>, expired 5m ago; break it with break_stale=true",
     ["deployment lock", "is held by", "break it with break_stale=true"]),
    ("Checksum mismatch for a/b.tar.gz: sha256 is 12ab", ["Checksum mismatch for"]),
    ("candidate myapp-b failed the 10 % step", []),
])
def test_literal_fragments(message, expected):
    assert literal_fragments(message) == [e for e in expected if len(e.split()) >= 3 or "=" in e]


def test_setup_packages_are_the_ones_setup_installs():
    debs = re.search(r"^debs=\(([^)]*)\)", (REPO / "tools" / "setup.sh").read_text(), flags=re.M).group(1).split()
    install = section(guide_text(), "1. Install")
    assert debs and sorted(d for d in debs if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(d), install)) == []
