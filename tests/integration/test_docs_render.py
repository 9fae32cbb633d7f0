"""Every plugin and role argument spec of progressive.delivery renders with ansible-doc.

The expected names come from the files on disk, not from `ansible-doc --list`, so a plugin whose
documentation does not load is reported missing instead of silently left out. No lab, no AWS.
"""
import json
import os
import re
import subprocess

import pytest
import yaml

from harness import REPO, VENV_BIN

COLLECTION = "progressive.delivery"


def plugin_names(kind):
    folder = REPO / "plugins" / kind
    if kind == "filter":
        # Filters are documented in YAML files beside the Python file that holds them.
        return sorted(p.stem for p in folder.glob("*.yml"))
    return sorted(p.stem for p in folder.glob("*.py") if not p.name.startswith("_"))


def role_entry_points():
    roles = {}
    for spec in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        roles[spec.parents[1].name] = sorted(yaml.safe_load(spec.read_text())["argument_specs"])
    return roles


def ansible_doc(*args):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    result = subprocess.run([str(VENV_BIN / "ansible-doc")] + list(args), capture_output=True, text=True,
                            cwd=str(REPO), env=env, timeout=180)
    # A doc that fails to load is reported as an error or a warning naming it, and left out of the output.
    complaints = [line for line in result.stderr.splitlines()
                  if "[ERROR]" in line or ("[WARNING]" in line and COLLECTION in line)]
    assert result.returncode == 0 and not complaints, result.stderr
    return result.stdout


def fqcns(names):
    return ["%s.%s" % (COLLECTION, name) for name in names]


def test_the_collection_has_what_we_expect_to_document():
    assert "ecs_taskdef_clone" in plugin_names("modules")
    assert "audit_event" in plugin_names("action")
    assert "deployment_summary" in plugin_names("filter")
    assert plugin_names("callback") == ["deployment_audit"]
    assert role_entry_points()["vm_deploy"] == ["main", "rollback", "rollout_finish", "rollout_start", "verify_artifact"]
    assert "elb_target_batch" in plugin_names("modules") and "release_name_problems" in plugin_names("filter")


@pytest.mark.parametrize("kind, doc_type", [("modules", "module"), ("filter", "filter"), ("callback", "callback")])
def test_every_plugin_renders_with_options_and_examples(kind, doc_type):
    names = fqcns(plugin_names(kind))
    docs = json.loads(ansible_doc("-t", doc_type, "--json", *names))
    assert sorted(docs) == sorted(names)
    for name in names:
        doc = docs[name]["doc"]
        assert doc.get("short_description"), name
        assert doc.get("description"), name
        assert doc.get("options"), "%s documents no options" % name
        for option, spec in doc["options"].items():
            assert spec.get("description"), "%s: option %s has no description" % (name, option)
        if doc_type != "callback":
            assert (docs[name].get("examples") or "").strip(), "%s has no examples" % name
            assert docs[name].get("return"), "%s documents no return values" % name
    # The text rendering (what people read) formats every markup reference without an error.
    text = ansible_doc("-t", doc_type, *names)
    for name in names:
        assert re.search(r"^> %s \S*%s\S* " % (doc_type.upper(), re.escape(name)), text, re.M), name


def test_action_plugins_are_documented_by_their_module():
    # ansible-doc shows an action plugin through the module of the same name, rendered by the test above.
    assert set(plugin_names("action")) <= set(plugin_names("modules")), "an action plugin without a module has no docs"


def test_every_role_entry_point_renders_with_described_typed_options():
    roles = role_entry_points()
    assert roles, "no role has meta/argument_specs.yml"
    docs = json.loads(ansible_doc("-t", "role", "--json", *fqcns(roles)))
    assert sorted(docs) == sorted(fqcns(roles))
    for role, entry_points in roles.items():
        rendered = docs["%s.%s" % (COLLECTION, role)]["entry_points"]
        assert sorted(rendered) == entry_points, role
        for entry_point, spec in rendered.items():
            where = "%s (%s)" % (role, entry_point)
            assert spec.get("short_description"), where
            assert spec.get("options"), "%s documents no options" % where
            for option, option_spec in spec["options"].items():
                assert option_spec.get("description"), "%s: option %s has no description" % (where, option)
                assert option_spec.get("type"), "%s: option %s has no type" % (where, option)
                if option_spec["type"] == "list":
                    assert option_spec.get("elements"), "%s: list option %s says not what its elements are" % (where, option)
    text = ansible_doc("-t", "role", *fqcns(roles)).replace("*", "")
    for role, entry_points in roles.items():
        block = text.split("> ROLE: %s.%s " % (COLLECTION, role), 1)
        assert len(block) == 2, "role %s did not render" % role
        rendered_entry_points = re.findall(r"^ENTRY POINT: (\S+) - \S", block[1].split("> ROLE: ", 1)[0], re.M)
        assert sorted(rendered_entry_points) == entry_points, role
