"""AWX as code (awx/progressive_delivery.json, issue 7), checked against what `awx import` reads and against the playbooks.

- The structure is the one awxkit's export writes and its import reads: the top-level resources, each asset's natural
  key (awxkit's NATURAL_KEY per resource), references between assets, workflow nodes with their approval template,
  survey specs valid by AWX's own survey rules (ported from AWX's JobTemplateSurveySpec._validate_spec_data and
  SurveyJobTemplateMixin._survey_element_validation).
- Every survey variable is an input the playbook really reads: an option of the argument spec of a role (entry point)
  the playbook runs, or a play variable its header documents and its body uses; the survey's type, choices, defaults
  and required-ness agree with that spec. Renaming a role option or a play variable fails here.
- The workflows: production validates (check mode), waits for an approval, deploys, rolls back on failure; staging
  deploys without approval.
"""
import functools
import json
import re
from pathlib import Path

import pytest
import yaml

import awxkit.api.pages as awxkit_pages
from awxkit.api.pages.api import EXPORTABLE_RESOURCES

REPO = Path(__file__).resolve().parents[3]
AWX_DIR = REPO / "awx"
EXPORT = json.loads((AWX_DIR / "progressive_delivery.json").read_text())

# Resource key of the export -> natural-key type and awxkit page class.
RESOURCE_TYPES = {
    "execution_environments": ("execution_environment", awxkit_pages.ExecutionEnvironment),
    "projects": ("project", awxkit_pages.Project),
    "inventory": ("inventory", awxkit_pages.Inventory),
    "inventory_sources": ("inventory_source", awxkit_pages.InventorySource),
    "job_templates": ("job_template", awxkit_pages.JobTemplate),
    "workflow_job_templates": ("workflow_job_template", awxkit_pages.WorkflowJobTemplate),
}
NODE_KEY = awxkit_pages.WorkflowJobTemplateNode.NATURAL_KEY
# What the import refers to but does not create: AWX's default organization, its managed credential types, and the
# credentials an administrator creates first (awx/README.md) since they hold secrets.
EXTERNAL = {
    "organization": [{"name": "Default", "type": "organization"}],
    "credential_type": [{"name": "Amazon Web Services", "kind": "cloud", "type": "credential_type"},
                        {"name": "Machine", "kind": "ssh", "type": "credential_type"}],
    "credential": "see README",
}
# AWX's SURVEY_TYPE_MAPPING: question type -> Python type of its answer.
SURVEY_TYPE_MAPPING = {"text": str, "textarea": str, "password": str, "multiplechoice": str, "multiselect": str,
                       "integer": int, "float": (float, int)}
# Argument spec type -> question types whose answer arrives as that type (a survey answer is a str, int, float or a
# list of str: a bool or dict option cannot be a question - "false" would be a true string in a conditional).
QUESTION_TYPES_FOR = {"str": {"text", "textarea", "password", "multiplechoice"}, "path": {"text"},
                      "int": {"integer"}, "float": {"float", "integer"}, "list": {"multiselect"}}


def assets(resource):
    return EXPORT.get(resource) or []


def job_templates():
    return {jt["name"]: jt for jt in assets("job_templates")}


def workflows():
    return {wf["name"]: wf for wf in assets("workflow_job_templates")}


def surveys():
    """(template name, template, survey spec) of every template with a survey."""
    return [(t["name"], t, t["related"]["survey_spec"]) for resource in ("job_templates", "workflow_job_templates")
            for t in assets(resource) if t["related"].get("survey_spec")]


def references(value, path=""):
    """Every nested natural-key reference (a dict with a `type`) below `value`, with where it sits."""
    if isinstance(value, dict):
        if "type" in value and isinstance(value["type"], str) and path:
            yield path, value
        for key, sub in value.items():
            if key in ("natural_key", "survey_spec", "create_approval_template", "extra_data"):
                continue
            yield from references(sub, path + "." + key)
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            yield from references(sub, "%s[%d]" % (path, index))


# ---- what AWX itself accepts --------------------------------------------------------------------------------------

def awx_spec_errors(spec):
    """AWX's survey spec validation (JobTemplateSurveySpec._validate_spec_data), as errors instead of 400s."""
    errors = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if not isinstance(spec.get(field), kind):
            errors.append("survey field %r missing or not a %s" % (field, kind.__name__))
    if errors:
        return errors
    if not spec["spec"]:
        return ["'spec' doesn't contain any items"]
    seen = set()
    for index, item in enumerate(spec["spec"]):
        if not isinstance(item, dict):
            errors.append("question %d is not an object" % index)
            continue
        for field in ("type", "question_name", "variable", "required"):
            kind = bool if field == "required" else str
            if not isinstance(item.get(field), kind):
                errors.append("question %d: %r missing or not a %s" % (index, field, kind.__name__))
        if errors:
            continue
        if item["variable"] in seen:
            errors.append("variable %r duplicated" % item["variable"])
        seen.add(item["variable"])
        qtype = item["type"]
        if qtype not in SURVEY_TYPE_MAPPING:
            errors.append("question %d: type %r is not an AWX question type" % (index, qtype))
            continue
        if item.get("default", "") != "" and not isinstance(item["default"], SURVEY_TYPE_MAPPING[qtype]):
            errors.append("question %d: default %r is not a %s" % (index, item["default"], qtype))
        for key in ("min", "max"):
            if item.get(key) is not None and not isinstance(item[key], int):
                errors.append("question %d: %s is not an integer" % (index, key))
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in item:
                errors.append("question %d of type %s must specify choices" % (index, qtype))
                continue
            if "default" in item:
                defaults = item["default"].splitlines() if isinstance(item["default"], str) else item["default"]
                if qtype == "multiplechoice" and len(defaults) > 1:
                    errors.append("question %d: multiple choice can have only one default" % index)
                if any(d not in item["choices"] for d in defaults):
                    errors.append("question %d: default not among the choices" % index)
    return errors


def awx_answer_errors(item, value):
    """AWX's check of one answer (SurveyJobTemplateMixin._survey_element_validation)."""
    qtype, var = item["type"], item["variable"]
    if qtype in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["%s: %r is not a string" % (var, value)]
        if item.get("min") not in ("", None) and len(value) < int(item["min"]):
            return ["%s: %r shorter than %s" % (var, value, item["min"])]
        if item.get("max") not in ("", None) and len(value) > int(item["max"]):
            return ["%s: %r longer than %s" % (var, value, item["max"])]
    elif qtype in ("integer", "float"):
        if type(value) not in ((int,) if qtype == "integer" else (int, float)):
            return ["%s: %r is not %s" % (var, value, qtype)]
        if item.get("min") not in ("", None) and value < item["min"]:
            return ["%s: %r below %s" % (var, value, item["min"])]
        if item.get("max") not in ("", None) and value > item["max"]:
            return ["%s: %r above %s" % (var, value, item["max"])]
    elif qtype == "multiplechoice" and value not in item["choices"]:
        return ["%s: %r not among %s" % (var, value, item["choices"])]
    elif qtype == "multiselect" and (not isinstance(value, list) or any(v not in item["choices"] for v in value)):
        return ["%s: %r not a list of %s" % (var, value, item["choices"])]
    return []


# ---- what the playbooks read --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def load_yaml(relative_path):
    return yaml.load((REPO / relative_path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def role_runs(playbook):
    """(role, entry point) of every role the playbook runs, in order."""
    runs = []

    def walk(tasks):
        for task in tasks or []:
            for block_key in ("block", "rescue", "always"):
                walk(task.get(block_key))
            for action in ("ansible.builtin.include_role", "ansible.builtin.import_role", "include_role", "import_role"):
                if action in task:
                    args = task[action]
                    runs.append((args["name"].split(".")[-1], args.get("tasks_from", "main")))

    for play in load_yaml(playbook):
        for role in play.get("roles") or []:
            runs.append(((role if isinstance(role, str) else role["role"]).split(".")[-1], "main"))
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            walk(play.get(section))
    return runs


def role_option(playbook, variable):
    """(role, entry point, option spec) of the first role the playbook runs that declares `variable`, or None."""
    for role, entry in role_runs(playbook):
        specs = load_yaml("roles/%s/meta/argument_specs.yml" % role)["argument_specs"]
        option = (specs.get(entry) or {}).get("options", {}).get(variable)
        if option is not None:
            return role, entry, option
    return None


def documented_play_var(playbook, variable):
    """True when the playbook's header comment documents `variable` and its body reads it."""
    lines = (REPO / playbook).read_text().splitlines()
    header = []
    for line in lines:
        if line.startswith("#") or line.strip() in ("", "---"):
            header.append(line)
        else:
            break
    body = "\n".join(line for line in lines[len(header):] if not line.lstrip().startswith("#"))
    word = re.compile(r"(?<![\w.])%s(?!\w)" % re.escape(variable))
    return bool(word.search("\n".join(header))) and bool(word.search(body))


def spec_problems(item, option):
    """How a survey question disagrees with the argument spec option it sets."""
    problems = []
    spec_type = option.get("type", "str")
    if item["type"] not in QUESTION_TYPES_FOR.get(spec_type, set()):
        problems.append("question type %s cannot set a %s option" % (item["type"], spec_type))
    if spec_type == "list" and option.get("elements", "str") != "str":
        problems.append("a multiselect answers a list of str, the option wants %s" % option.get("elements"))
    spec_choices = option.get("choices")
    if spec_choices is not None and item["type"] in ("multiplechoice", "multiselect"):
        extra = [c for c in item["choices"] if c not in spec_choices]
        if extra:
            problems.append("choices %s are not among the option's choices %s" % (extra, spec_choices))
    elif spec_choices is not None:
        problems.append("the option has choices %s: ask with multiplechoice" % spec_choices)
    if option.get("required") and not item["required"]:
        problems.append("the option is required, the question is not")
    if "default" in item and not item["required"]:
        problems.append("an optional question with a default always sends it, overriding the inventory")
    elif "default" in item and "default" in option and "{{" not in str(option["default"]) \
            and item["default"] != option["default"]:
        problems.append("default %r differs from the option's default %r" % (item["default"], option["default"]))
    if not item["required"] and item["type"] in ("text", "textarea") and item.get("min") in (0, None) \
            and option.get("default", "") != "":
        problems.append("an empty answer would send '' instead of the option's default %r" % option.get("default"))
    if isinstance(option.get("default"), (int, float)) and not isinstance(option["default"], bool) \
            and item["type"] in ("integer", "float"):
        problems += awx_answer_errors(item, option["default"])
    return problems


def playbooks_of(template):
    """Playbooks a job template or a workflow's nodes run."""
    if "playbook" in template:
        return [template["playbook"]]
    names = [n["unified_job_template"]["name"] for n in template["related"]["workflow_nodes"] if "unified_job_template" in n]
    return sorted({job_templates()[name]["playbook"] for name in names})


# ---- the tests ----------------------------------------------------------------------------------------------------

def test_the_export_holds_only_resources_awx_import_reads_and_all_of_ours():
    assert set(EXPORT) <= set(EXPORTABLE_RESOURCES), set(EXPORT) - set(EXPORTABLE_RESOURCES)
    assert set(job_templates()) == {"ECS blue-green deploy", "ECS rollback", "ECS cleanup", "VM rolling deploy", "VM rollback"}
    assert set(workflows()) == {"ECS production deploy", "ECS staging deploy"}


@pytest.mark.parametrize("resource", sorted(RESOURCE_TYPES))
def test_every_asset_carries_the_natural_key_the_import_resolves_it_by(resource):
    kind, page = RESOURCE_TYPES[resource]
    keys = [a["natural_key"] for a in assets(resource)]
    assert len({json.dumps(k, sort_keys=True) for k in keys}) == len(keys), "duplicate natural keys in %s" % resource
    for asset in assets(resource):
        key = asset["natural_key"]
        assert key["type"] == kind, key
        assert set(key) - {"type"} <= set(page.NATURAL_KEY), (key, page.NATURAL_KEY)
        assert key["name"] == asset["name"]
        for field in set(key) & set(asset) - {"type"}:
            assert asset[field] == key[field], (asset["name"], field)


def test_every_reference_is_an_asset_of_the_export_or_a_documented_prerequisite():
    local = {}
    for resource, (kind, _) in RESOURCE_TYPES.items():
        local[kind] = [a["natural_key"] for a in assets(resource)]
    for wf in assets("workflow_job_templates"):
        local.setdefault("workflow_job_template_node", []).extend(n["natural_key"] for n in wf["related"]["workflow_nodes"])
    readme = (AWX_DIR / "README.md").read_text()
    for resource in RESOURCE_TYPES:
        for asset in assets(resource):
            for where, ref in references(asset):
                if ref["type"] == "credential":
                    assert ref["name"] in readme and ref["credential_type"] in EXTERNAL["credential_type"], (where, ref)
                    assert ref["organization"] in EXTERNAL["organization"], (where, ref)
                    continue
                known = local.get(ref["type"], []) + (EXTERNAL.get(ref["type"]) if ref["type"] in ("organization", "credential_type") else [])
                assert ref in known, "%s %s refers to %r, which the export neither holds nor documents" % (asset["name"], where, ref)


@pytest.mark.parametrize("name", ["ECS blue-green deploy", "ECS rollback", "VM rolling deploy", "VM rollback"])
def test_job_templates_run_a_playbook_of_this_repository_from_the_project_in_the_execution_environment(name):
    jt = job_templates()[name]
    assert (REPO / jt["playbook"]).is_file(), jt["playbook"]
    assert jt["project"] == assets("projects")[0]["natural_key"]
    assert jt["execution_environment"] == assets("execution_environments")[0]["natural_key"]
    assert jt["inventory"] in [i["natural_key"] for i in assets("inventory")]
    kinds = [c["credential_type"]["kind"] for c in jt["related"]["credentials"]]
    assert "cloud" in kinds and len(kinds) == len(set(kinds)), kinds   # AWX refuses two credentials of one kind
    if jt["playbook"].startswith("playbooks/vm_"):
        assert "ssh" in kinds
    assert jt["survey_enabled"] is bool(jt["related"]["survey_spec"]["spec"])
    assert jt["job_type"] in ("run", "check")


@pytest.mark.parametrize("name,template,spec", surveys(), ids=[s[0] for s in surveys()])
def test_surveys_pass_awx_survey_validation(name, template, spec):
    assert awx_spec_errors(spec) == []
    for item in spec["spec"]:
        if "default" in item:
            assert awx_answer_errors(item, item["default"]) == [], item


@pytest.mark.parametrize("name,template,spec", surveys(), ids=[s[0] for s in surveys()])
def test_every_survey_variable_is_an_input_the_playbook_reads_with_the_same_type_choices_and_default(name, template, spec):
    problems = []
    for item in spec["spec"]:
        var, found = item["variable"], False
        for playbook in playbooks_of(template):
            option = role_option(playbook, var)
            if option is not None:
                found = True
                problems += ["%s (%s role %s/%s): %s" % (var, playbook, option[0], option[1], p)
                             for p in spec_problems(item, option[2])]
            elif documented_play_var(playbook, var):
                found = True
                if item["type"] not in ("text", "integer", "multiplechoice"):
                    problems.append("%s (%s play var): ask with text, integer or multiplechoice" % (var, playbook))
                if not item["required"] and "default" in item:
                    problems.append("%s: an optional question with a default always sends it" % var)
                if not item["required"] and item["type"] == "text" and item.get("min") in (0, None):
                    problems.append("%s (%s play var): an empty answer would send ''" % (var, playbook))
        if not found:
            problems.append("%s is neither a role option nor a documented play var of %s" % (var, playbooks_of(template)))
    assert problems == []


def test_the_image_tag_question_states_the_tag_pattern_the_role_enforces():
    option = role_option("playbooks/ecs_blue_green.yml", "ecs_validate_image_tag_pattern")[2]
    for name, template, spec in surveys():
        for item in spec["spec"]:
            if item["variable"] == "ecs_validate_image_tag":
                assert option["default"] in item["question_description"], name
                assert re.fullmatch(option["default"], "v1.2.3") and not awx_answer_errors(item, "v1.2.3")


def test_environment_choices_are_the_example_inventory_groups_holding_that_environment():
    hosts = yaml.safe_load((REPO / "inventories" / "example" / "hosts.yml").read_text())
    groups = hosts["all"]["children"]
    asked = [item for _, _, spec in surveys() for item in spec["spec"] if item["variable"] == "deploy_controller"]
    fixed = [json.loads(wf["extra_vars"])["deploy_controller"] for wf in assets("workflow_job_templates")]
    assert asked and fixed
    for environment in [c for item in asked for c in item["choices"]] + fixed:
        assert environment in groups, environment
        group_vars = yaml.safe_load((REPO / "inventories" / "example" / "group_vars" / environment / "ecs.yml").read_text())
        assert group_vars["ecs_validate_environment"] == environment


def workflow_graph(wf):
    nodes = {n["identifier"]: n for n in wf["related"]["workflow_nodes"]}
    edges = {i: {kind: [r["identifier"] for r in n["related"].get(kind + "_nodes", [])]
                 for kind in ("success", "failure", "always")} for i, n in nodes.items()}
    return nodes, edges


@pytest.mark.parametrize("name", ["ECS production deploy", "ECS staging deploy"])
def test_workflow_nodes_are_well_formed_and_prompt_only_what_their_templates_allow(name):
    wf = workflows()[name]
    key = wf["natural_key"]
    nodes, edges = workflow_graph(wf)
    assert len(nodes) == len(wf["related"]["workflow_nodes"]), "duplicate identifiers"
    for identifier, node in nodes.items():
        assert set(node["natural_key"]) == set(NODE_KEY) | {"type"}
        assert node["natural_key"] == {"workflow_job_template": key, "identifier": identifier, "type": "workflow_job_template_node"}
        for targets in edges[identifier].values():
            for target in targets:
                assert target in nodes, (identifier, target)
        for ref in sum((node["related"].get(k + "_nodes", []) for k in ("success", "failure", "always")), []):
            assert ref["workflow_job_template"] == key, "an edge leaves the workflow"
        approval = node["related"].get("create_approval_template")
        if approval is not None:
            assert "unified_job_template" not in node
            assert isinstance(approval["name"], str) and approval["name"]
            assert isinstance(approval["timeout"], int) and approval["timeout"] > 0
            continue
        jt = job_templates()[node["unified_job_template"]["name"]]
        if node["job_type"] is not None:
            assert jt["ask_job_type_on_launch"], (identifier, "job_type is not prompted on launch")
        if node["extra_data"]:
            assert jt["ask_variables_on_launch"], (identifier, "extra vars are not prompted on launch")
    # acyclic: AWX refuses cycles
    visiting, done = set(), set()

    def visit(i):
        assert i not in visiting, "cycle through %s" % i
        if i in done:
            return
        visiting.add(i)
        for targets in edges[i].values():
            for t in targets:
                visit(t)
        visiting.discard(i)
        done.add(i)

    for identifier in nodes:
        visit(identifier)


def test_production_validates_waits_for_approval_deploys_and_rolls_back_on_failure():
    wf = workflows()["ECS production deploy"]
    nodes, edges = workflow_graph(wf)
    assert json.loads(wf["extra_vars"]) == {"deploy_controller": "production"}
    targets = {t for e in edges.values() for ts in e.values() for t in ts}
    roots = [i for i in nodes if i not in targets]
    assert len(roots) == 1
    validate = nodes[roots[0]]
    assert validate["unified_job_template"]["name"] == "ECS blue-green deploy" and validate["job_type"] == "check"
    assert edges[roots[0]]["failure"] == [] and edges[roots[0]]["always"] == []
    [approve] = edges[roots[0]]["success"]
    assert "create_approval_template" in nodes[approve]["related"]
    assert edges[approve]["failure"] == [] and edges[approve]["always"] == []   # denied or timed out: nothing runs
    [deploy] = edges[approve]["success"]
    assert nodes[deploy]["unified_job_template"]["name"] == "ECS blue-green deploy" and nodes[deploy]["job_type"] == "run"
    [rollback] = edges[deploy]["failure"]
    assert nodes[rollback]["unified_job_template"]["name"] == "ECS rollback"
    # the deploy runs only after an approval: every path to it goes through the approval node
    parents = [i for i, e in edges.items() if deploy in sum(e.values(), [])]
    assert parents == [approve]


def test_staging_deploys_without_approval_and_rolls_back_on_failure():
    wf = workflows()["ECS staging deploy"]
    nodes, edges = workflow_graph(wf)
    assert json.loads(wf["extra_vars"]) == {"deploy_controller": "staging"}
    assert not any("create_approval_template" in n["related"] for n in nodes.values())
    [deploy] = [i for i, n in nodes.items() if n["unified_job_template"]["name"] == "ECS blue-green deploy"]
    assert nodes[deploy]["job_type"] == "run"
    [rollback] = edges[deploy]["failure"]
    assert nodes[rollback]["unified_job_template"]["name"] == "ECS rollback"


def test_the_execution_environment_is_the_one_built_for_this_collection_version():
    version = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
    [ee] = assets("execution_environments")
    assert ee["image"].rsplit("/", 1)[-1] == "progressive-delivery-ee:%s" % version, (ee["image"], version)
    assert ee["pull"] in ("always", "missing", "never")


def test_the_readme_names_what_an_administrator_creates_before_the_import():
    readme = (AWX_DIR / "README.md").read_text()
    for jt in assets("job_templates"):
        for credential in jt["related"]["credentials"]:
            assert credential["name"] in readme and credential["credential_type"]["name"] in readme
    assert assets("execution_environments")[0]["image"] in readme
    assert assets("projects")[0]["scm_url"] in readme
    assert "awx import" in readme
