"""The molecule scenarios (molecule/<scenario>) against this worker's lab, as `make molecule` runs them against the
default one: syntax, converge, idempotence (a second converge must change nothing) and the scenario's verify.yml.

- ecs_blue_green: the ECS roles through playbooks/ecs_blue_green.yml on the freshly seeded world (live slot a on
  v1.2.2), deploying v1.2.3 with every watch at 0.
- vm_deploy: vm_rolling.yml on a fleet of two namespace hosts of this lab (release v1.2.2), rolled to v1.2.3.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness import REPO, VENV_BIN

pytestmark = pytest.mark.lab


def molecule(scenario, **env):
    full = dict(os.environ)
    full.update({"PATH": "%s:%s" % (VENV_BIN, os.environ.get("PATH", "")), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1",
                 "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "0"})
    full.update(env)
    proc = subprocess.run([str(VENV_BIN / "molecule"), "test", "-s", scenario], cwd=str(REPO), env=full,
                          capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    out = proc.stdout + proc.stderr
    return proc.returncode, out, "\n".join(out.splitlines()[-80:])


def test_ecs_blue_green_scenario_deploys_changes_nothing_on_rerun_and_verifies(world):
    assert world.weights() == {"a": 100, "b": 0}
    rc, out, tail = molecule("ecs_blue_green", MOLECULE_ECS_TAG="v1.2.3")
    assert rc == 0, tail
    for action in ("converge", "idempotence", "verify"):
        assert "[ecs_blue_green > %s] Executed: Successful" % action in out, tail
    # It deployed for real: the candidate slot took the traffic, on v1.2.3.
    assert world.weights() == {"a": 0, "b": 100}
    assert world.image_of("b")[0].endswith("@" + world.digest_of_tag("v1.2.3"))


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("sshd") and not Path("/usr/sbin/sshd").exists(),
                    reason="VM hosts need root and openssh-server")
def test_vm_deploy_scenario_rolls_two_hosts_changes_nothing_on_rerun_and_verifies(lab):
    from lab import vmhosts
    from lab.__main__ import vm_fleet_args
    args = vm_fleet_args()
    fleet = vmhosts.VmFleet(**args)
    fleet.create(2)
    try:
        rc, out, tail = molecule("vm_deploy", LAB_VM_INVENTORY=str(args["inventory"]))
        assert rc == 0, tail
        for action in ("converge", "idempotence", "verify"):
            assert "[vm_deploy > %s] Executed: Successful" % action in out, tail
    finally:
        fleet.destroy()
