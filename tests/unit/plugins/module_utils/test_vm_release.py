"""The VM release layout's logic (plugins/module_utils/vm_release.py): names, archive member checks, pruning, links,
the health wait. File system parts run in tmp_path."""
import io
import os
import tarfile
import zipfile

import pytest

from ansible_collections.progressive.delivery.plugins.module_utils import vm_release as vr


def test_version_names():
    assert vr.version_problem("version", "v1.2.3") is None
    assert vr.version_problem("version", "1.0+build_7") is None
    for bad in ("", "..", ".hidden", "-x", "a/b", "v1 2", None):
        assert "version must be a release name" in vr.version_problem("version", bad)


def test_strip_components_accepts_only_strip():
    assert vr.strip_components([]) == 0
    assert vr.strip_components(["--strip-components=1"]) == 1
    assert vr.strip_components(["--strip-components", "2"]) == 2
    with pytest.raises(ValueError, match="unsupported unpack option '--no-same-owner'"):
        vr.strip_components(["--no-same-owner"])
    with pytest.raises(ValueError, match="needs a number"):
        vr.strip_components(["--strip-components"])


def test_member_targets_and_traversal():
    assert vr.member_target("./bin/start", 0) == "bin/start"
    assert vr.member_target("myapp-1/bin/start", 1) == "bin/start"
    assert vr.member_target("myapp-1/", 1) == ""
    with pytest.raises(vr.ArchiveError, match="absolute path"):
        vr.member_target("/etc/passwd", 0)
    with pytest.raises(vr.ArchiveError, match="climbs out"):
        vr.member_target("bin/../../etc/cron.d/x", 0)
    with pytest.raises(vr.ArchiveError, match="absolute path"):
        vr.member_target("C:/windows", 0)


def test_links_must_stay_inside_the_release():
    assert vr.link_target_problem("bin/python", "../lib/python3") is None
    assert "points out of the release" in vr.link_target_problem("bin/python", "../../usr/bin/python3")
    assert "absolute path" in vr.link_target_problem("current", "/etc")
    assert vr.link_target_problem("data/x", "y", hard=True) is None


def test_plan_members_refuses_the_first_unsafe_member():
    ok = [("app.py", "file", None), ("bin", "dir", None), ("bin/run", "symlink", "../app.py")]
    assert vr.plan_members(ok) == [("app.py", "app.py"), ("bin", "bin"), ("bin/run", "bin/run")]
    with pytest.raises(vr.ArchiveError, match="is a device or fifo"):
        vr.plan_members(ok + [("dev/sda", "device or fifo", None)])
    with pytest.raises(vr.ArchiveError, match="points out of the release"):
        vr.plan_members(ok + [("evil", "symlink", "../../../etc/shadow")])
    with pytest.raises(vr.ArchiveError, match="hard link"):
        vr.plan_members([("x", "hardlink", "../../etc/shadow")])
    # stripped to nothing: dropped
    assert vr.plan_members([("top/", "dir", None), ("top/a", "file", None)], strip=1) == [("top/a", "a")]


def test_prune_plan_keeps_the_newest_and_the_protected():
    releases = [("v1", 100), ("v2", 200), ("v3", 300), ("v4", 400)]
    assert vr.prune_plan(releases, 2) == ["v2", "v1"]
    assert vr.prune_plan(releases, 2, protect=["v1", ""]) == ["v2"]
    assert vr.prune_plan(releases, 5) == []


def _tar(path, members, compress=True):
    with tarfile.open(path, "w:gz" if compress else "w") as tar:
        for name, data, kind, link in members:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o755 if name.startswith("bin/") else 0o644
                tar.addfile(info, io.BytesIO(data))


def test_unpack_tar_keeps_modes_and_links(tmp_path):
    pkg = tmp_path / "p.tar.gz"
    _tar(pkg, [("bin", None, "dir", None), ("bin/start", b"#!/bin/sh\n", "file", None),
               ("VERSION", b"v1\n", "file", None), ("bin/version", None, "symlink", "../VERSION")])
    dest = tmp_path / "releases" / "v1"
    assert vr.unpack(str(pkg), str(dest)) == 2
    assert (dest / "VERSION").read_text() == "v1\n"
    assert os.stat(dest / "bin" / "start").st_mode & 0o777 == 0o755
    assert os.readlink(dest / "bin" / "version") == "../VERSION"


def test_unpack_refuses_traversal_before_writing_anything(tmp_path):
    pkg = tmp_path / "evil.tar"
    _tar(pkg, [("good", b"x", "file", None), ("../../outside", b"y", "file", None)], compress=False)
    dest = tmp_path / "r" / "v1"
    with pytest.raises(vr.ArchiveError, match="climbs out"):
        vr.unpack(str(pkg), str(dest))
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "outside").exists()


def test_unpack_zip_with_strip(tmp_path):
    pkg = tmp_path / "p.zip"
    with zipfile.ZipFile(pkg, "w") as zf:
        zf.writestr("myapp/", "")
        zf.writestr("myapp/app.py", "print(1)\n")
    dest = tmp_path / "v1"
    assert vr.unpack(str(pkg), str(dest), strip=1) == 1
    assert (dest / "app.py").read_text() == "print(1)\n"


def test_links_are_switched_atomically_and_read_back(tmp_path):
    (tmp_path / "releases" / "v1").mkdir(parents=True)
    (tmp_path / "releases" / "v2").mkdir()
    (tmp_path / "releases" / ".unpacking-v3").mkdir()
    link = str(tmp_path / "current")
    assert vr.read_link(link) == ""
    assert vr.point_link(link, str(tmp_path / "releases" / "v1"))
    assert not vr.point_link(link, str(tmp_path / "releases" / "v1"))
    assert vr.point_link(link, str(tmp_path / "releases" / "v2"))
    assert vr.read_link(link) == "v2"
    assert sorted(n for n, _ in vr.list_releases(str(tmp_path / "releases"))) == ["v1", "v2"]
    assert not [p for p in os.listdir(tmp_path) if ".vm_release." in p]


def test_marker_and_sha256(tmp_path):
    f = tmp_path / "m"
    assert vr.read_marker(str(f)) == ""
    f.write_text("abc\n")
    assert vr.read_marker(str(f)) == "abc"
    assert vr.sha256_of(str(f)) == "edeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb"


def test_health_inputs():
    assert vr.health_input_problem("http://127.0.0.1:8080/health", 60, 30, 2) is None
    assert "health_url must be" in vr.health_input_problem("ftp://x/", 60, 30, 2)
    assert "health_retries within" in vr.health_input_problem("http://x/", 60, 0, 2)


def test_wait_healthy_waits_for_the_port_then_for_200():
    answers = iter([(503, "Service Unavailable"), (-1, "ConnectionResetError: reset"), (200, "OK")])
    slept = []
    out = vr.wait_healthy("http://127.0.0.1:8080/health", 10, 5, 0.5, get=lambda url: next(answers),
                          port_open=lambda host, port, timeout: (host, port) == ("127.0.0.1", 8080),
                          sleep=slept.append)
    assert out["ok"] and out["attempts"] == 3 and slept == [0.5, 0.5]


def test_wait_healthy_fails_with_the_last_status():
    out = vr.wait_healthy("http://h:81/health", 10, 3, 0, get=lambda url: (503, "Service Unavailable"),
                          port_open=lambda *a: True, sleep=lambda s: None)
    assert not out["ok"] and out["status"] == 503 and out["attempts"] == 3
    assert "answered 503 (Service Unavailable) to each of 3 requests" in out["msg"]
    closed = vr.wait_healthy("http://h:81/health", 7, 3, 0, get=None, port_open=lambda *a: False)
    assert not closed["ok"] and closed["msg"] == "port 81 on h did not accept connections within 7 s"


def test_wait_port_is_bounded():
    clock = iter([0.0, 0.5, 1.0, 1.5, 2.5])
    assert vr.wait_port("127.0.0.1", 9, 2, clock=lambda: next(clock), sleep=lambda s: None) is False
