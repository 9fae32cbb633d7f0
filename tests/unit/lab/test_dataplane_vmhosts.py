"""Pure parts of the lab's VM hosts: names, inventory, release artifacts."""
import hashlib
import io
import json
import tarfile

import pytest

from lab import vmhosts


def test_host_names_are_bounded():
    assert vmhosts.host_names(3) == ["pdlab-vm1", "pdlab-vm2", "pdlab-vm3"]
    for bad in (0, -1, vmhosts.MAX_HOSTS + 1):
        with pytest.raises(ValueError):
            vmhosts.host_names(bad)


def test_fleet_addresses_and_veth_names():
    fleet = vmhosts.VmFleet(state_dir="/tmp/x")
    assert fleet.address(1) == "10.213.0.11" and fleet.address(5) == "10.213.0.15"
    assert fleet.veth(12) == "pdlab0v12" and len(fleet.veth(50)) <= 15


def test_inventory_document_checks_host_keys_against_the_lab_file(tmp_path):
    doc = vmhosts.inventory_doc([{"name": "pdlab-vm1", "address": "10.213.0.11"}], tmp_path, 8080,
                                {"lab_vm_target_group": "myapp-vm"})
    group = doc["all"]["children"]["vm_hosts"]
    assert group["hosts"] == {"pdlab-vm1": {"ansible_host": "10.213.0.11"}}
    v = group["vars"]
    assert v["ansible_user"] == "root" and v["ansible_ssh_private_key_file"] == str(tmp_path / "lab_key")
    assert v["ansible_ssh_common_args"] == "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes" % (
        tmp_path / "known_hosts")
    assert "StrictHostKeyChecking=no" not in json.dumps(doc)
    assert v["lab_vm_app_port"] == 8080 and v["lab_vm_target_group"] == "myapp-vm"


def test_artifact_is_deterministic_with_a_sha256sum_sidecar(tmp_path):
    behaviour = {"error_rate": 0.05, "extra_latency_ms": 0, "health": "ok", "description": "x", "findings": {}}
    path, digest = vmhosts.build_artifact("v1.2.4-errors", behaviour, tmp_path / "a")
    again, digest2 = vmhosts.build_artifact("v1.2.4-errors", behaviour, tmp_path / "b")
    assert digest == digest2 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.read_bytes() == again.read_bytes()
    assert (tmp_path / "a" / "myapp-v1.2.4-errors.tar.gz.sha256").read_text() == "%s  %s\n" % (digest, path.name)
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes())) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"bin", "app.py", "behaviour.json", "VERSION", "bin/start", "bin/stop", "bin/status"}
        assert all(not m.name.startswith("/") and ".." not in m.name for m in members.values())
        assert members["bin/start"].mode == 0o755
        baked = json.load(tar.extractfile("behaviour.json"))
    assert baked == {"error_rate": 0.05, "extra_latency_ms": 0, "health": "ok"}
    other, digest3 = vmhosts.build_artifact("v1.2.3", dict(behaviour, error_rate=0.0), tmp_path / "a")
    assert digest3 != digest


def test_start_script_carries_the_port():
    files = vmhosts.release_files("v1", {"health": "ok"}, port=9999)
    assert b"PORT=${PORT:-9999}" in files["bin/start"][1]
    assert files["app.py"][1] == vmhosts.APP_SOURCE.read_bytes()
