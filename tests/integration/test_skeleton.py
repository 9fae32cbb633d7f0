"""The collection resolves and one module_defaults group reaches ours, amazon.aws's and community.aws's modules."""
from harness import localhost_play, run_playbook


def test_action_group_reaches_amazon_and_community_aws(moto):
    play = localhost_play([
        {"name": "caller", "amazon.aws.aws_caller_info": {}, "register": "caller"},
        {"name": "ecr", "community.aws.ecs_ecr": {"name": "group-check"}},
    ], moto.url)
    result = run_playbook(play)
    assert result.rc == 0, result
    # moto's default account proves the calls went to the moto endpoint, not to AWS.
    assert result.task("caller")["account"] == "123456789012"
    assert result.task("ecr")["changed"] is True
    assert moto.client("ecr").describe_repositories()["repositories"][0]["repositoryName"] == "group-check"


def test_built_collection_leaves_out_lab_bench_ci_venvs_and_the_lab_inventory(tmp_path):
    import subprocess
    import tarfile

    from harness import REPO, VENV_BIN

    subprocess.run([str(VENV_BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(tmp_path), str(REPO)],
                   check=True, capture_output=True, text=True)
    tarball = next(tmp_path.glob("progressive-delivery-*.tar.gz"))
    with tarfile.open(tarball) as tar:
        top = {name.split("/")[0] for name in tar.getnames()}
        names = tar.getnames()
    assert "MANIFEST.json" in top
    assert "plugins" in top and "meta" in top
    for excluded in ("lab", "bench", ".ci", ".venv", "build", ".lab", ".git", "tools"):
        assert excluded not in top, excluded
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    # The lab's inventory (dummy keys, loopback endpoints) is for this checkout's demo and tests, not for users.
    assert not [n for n in names if n.startswith("inventories/lab")]
    assert [n for n in names if n.startswith("inventories/example/")]


def test_ansible_doc_lists_every_module_of_ours():
    import subprocess

    from harness import REPO, VENV_BIN

    modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")
    out = subprocess.run([str(VENV_BIN / "ansible-doc"), "-l", "progressive.delivery", "-t", "module"],
                         cwd=str(REPO), check=True, capture_output=True, text=True).stdout
    listed = sorted(line.split()[0].split(".")[-1] for line in out.splitlines() if line.startswith("progressive.delivery."))
    assert listed == modules
