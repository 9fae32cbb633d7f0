"""The execution environment definition produces a complete ansible-builder context, offline.

`ansible-builder create` only writes the build context (Containerfile + `_build/`): it contacts
neither Galaxy nor a registry and needs no container runtime, so it runs here as it is. The two
things that would need the network at *build* time are checked offline instead:
- the collection's own dependencies (meta/execution-environment.yml) are read with
  `ansible-builder introspect` from the built collection artifact extracted into a tmp
  collections tree (what builder's introspect step does inside the image);
- the Galaxy requirements are checked as a file; the collections they name are installed by
  `ansible-galaxy` during `ansible-builder build` (on a machine that reaches Galaxy).
"""
import shutil
import subprocess
import tarfile

import pytest
import yaml

from harness import REPO, VENV_BIN

EE_FILE = REPO / "execution-environment.yml"


def run(*args, cwd=None):
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120)


def requirement_names(path):
    return {line.split("#")[0].strip().split(">")[0].split("=")[0].split("<")[0].split("[")[0].strip().lower()
            for line in path.read_text().splitlines() if line.split("#")[0].strip()}


@pytest.fixture(scope="module")
def collection_tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("collection")
    built = run(VENV_BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", out, REPO)
    assert built.returncode == 0, built.stderr
    return next(out.glob("progressive-delivery-*.tar.gz"))


@pytest.fixture(scope="module")
def ee_context(tmp_path_factory, collection_tarball):
    """`ansible-builder create` in a copy of the repo's EE inputs laid out as in the repo (the tarball where
    the README's build step puts it), so nothing is written into the work tree."""
    work = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", "requirements.txt", "requirements.yml", "bindep.txt"):
        shutil.copy(REPO / name, work / name)
    (work / "build" / "ee-collection").mkdir(parents=True)
    shutil.copy(collection_tarball, work / "build" / "ee-collection" / collection_tarball.name)
    created = run(VENV_BIN / "ansible-builder", "create", "-f", work / "execution-environment.yml",
                  "-c", work / "context", "--output-filename", "Containerfile", "-v3")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "No matches" not in created.stdout + created.stderr, created.stdout + created.stderr
    return work / "context"


def test_definition_is_builder_v3_with_pinned_core_and_runner():
    definition = yaml.safe_load(EE_FILE.read_text())
    assert definition["version"] == 3
    deps = definition["dependencies"]
    installed = {line.split()[0].lower(): line.split()[1]
                 for line in run(VENV_BIN / "python", "-m", "pip", "list", "--format=freeze").stdout.replace("==", " ").splitlines()
                 if " " in line}
    # The image runs what the collection is tested with.
    assert deps["ansible_core"]["package_pip"] == "ansible-core==%s" % installed["ansible-core"]
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==%s" % installed["ansible-runner"]
    assert (deps["galaxy"], deps["python"], deps["system"]) == ("requirements.yml", "requirements.txt", "bindep.txt")


def test_containerfile_references_base_image_pins_and_installs_the_collection(ee_context):
    definition = yaml.safe_load(EE_FILE.read_text())
    containerfile = (ee_context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="%s"' % definition["images"]["base_image"]["name"] in containerfile
    assert "FROM $EE_BASE_IMAGE AS base" in containerfile
    assert 'ARG PYCMD="%s"' % definition["dependencies"]["python_interpreter"]["python_path"] in containerfile
    assert definition["dependencies"]["ansible_core"]["package_pip"] in containerfile
    assert definition["dependencies"]["ansible_runner"]["package_pip"] in containerfile
    assert "collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml" in containerfile
    # Our collection goes in after the Galaxy ones, before builder's introspect reads their dependencies.
    ours = containerfile.index("/build/collection/progressive-delivery-*.tar.gz")
    assert containerfile.index("FROM base AS galaxy") < ours < containerfile.index("FROM base AS builder")
    assert "introspect.py introspect --user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "LABEL ansible-execution-environment=true" in containerfile


def test_context_carries_python_system_and_galaxy_requirements(ee_context, collection_tarball):
    build = ee_context / "_build"
    assert {"boto3", "botocore", "jmespath"} <= requirement_names(build / "requirements.txt")
    assert (build / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (REPO / "bindep.txt").read_text()
    galaxy = yaml.safe_load((build / "requirements.yml").read_text())
    assert {c["name"] for c in galaxy["collections"]} == {"amazon.aws", "community.aws", "community.general"}
    assert (build / "collection" / collection_tarball.name).stat().st_size == collection_tarball.stat().st_size
    for script in ("assemble", "introspect.py", "install-from-bindep", "check_ansible"):
        assert (build / "scripts" / script).is_file(), script


def test_galaxy_requirements_cover_the_collection_dependencies():
    galaxy = yaml.safe_load((REPO / "requirements.yml").read_text())
    manifest = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert {c["name"]: c["version"] for c in galaxy["collections"]} == manifest["dependencies"]


def test_collection_artifact_declares_its_dependencies_to_builder(tmp_path, collection_tarball):
    tree = tmp_path / "collections"
    root = tree / "ansible_collections" / "progressive" / "delivery"
    root.mkdir(parents=True)
    with tarfile.open(collection_tarball) as tar:
        names = set(tar.getnames())
        assert {"meta/execution-environment.yml", "requirements.txt", "bindep.txt"} <= names
        tar.extractall(root, filter="data")
    meta = yaml.safe_load((root / "meta" / "execution-environment.yml").read_text())
    assert meta == {"version": 1, "dependencies": {"python": "requirements.txt", "system": "bindep.txt"}}
    introspected = run(VENV_BIN / "ansible-builder", "introspect", "--sanitize", tree)
    assert introspected.returncode == 0, introspected.stderr
    found = yaml.safe_load(introspected.stdout.split("---", 1)[1])
    python = {line.split("#")[0].strip() for line in found["python"]}
    system = {line.split("#")[0].strip() for line in found["system"]}
    assert python == {line.strip() for line in (REPO / "requirements.txt").read_text().splitlines()
                      if line.strip() and not line.startswith("#")}
    assert all("from collection progressive.delivery" in line for line in found["python"] + found["system"])
    assert {"openssh-clients [platform:rpm]", "openssh-client [platform:dpkg]"} == system


def test_bindep_resolves_the_ssh_client_on_rpm_and_dpkg_platforms():
    from bindep.depends import Depends

    depends = Depends((REPO / "bindep.txt").read_text())
    assert [rule[0] for rule in depends.active_rules(["platform:rpm", "platform:redhat"])] == ["openssh-clients"]
    assert [rule[0] for rule in depends.active_rules(["platform:dpkg", "platform:ubuntu"])] == ["openssh-client"]
