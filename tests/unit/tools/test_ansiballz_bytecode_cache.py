"""tools/ansiballz_bytecode_cache.py: a payload zip's modules compile once per cache; other zips are not touched."""
import importlib
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

RUN = textwrap.dedent("""
    import builtins, sys
    sys.path.insert(0, {tools!r})
    import ansiballz_bytecode_cache as cache
    cache.install()
    compiled = []
    real_compile = builtins.compile
    def counting_compile(source, filename, *a, **kw):
        compiled.append(filename)
        return real_compile(source, filename, *a, **kw)
    builtins.compile = counting_compile
    sys.path.insert(0, {archive!r})
    import pkg.mod
    print(pkg.mod.VALUE, pkg.mod.__file__, type(sys.path_importer_cache[{archive!r}]).__name__)
    print(sum(1 for f in compiled if {archive!r} in f))
    try:
        pkg.mod.fail()
    except ZeroDivisionError as e:
        print(e.__traceback__.tb_next.tb_frame.f_code.co_filename)
""")


def _zip(path, value):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("pkg/__init__.py", "")
        z.writestr("pkg/mod.py", "VALUE = %r\n\ndef fail():\n    return 1 / 0\n" % value)
    return str(path)


def _run(archive, cache_dir):
    proc = subprocess.run([sys.executable, "-c", RUN.format(tools=str(REPO / "tools"), archive=archive)],
                          capture_output=True, text=True, env={"PD_ANSIBALLZ_BYTECODE_CACHE": str(cache_dir)}, check=True)
    first, compiled, traceback_file = proc.stdout.splitlines()
    return first.split(), int(compiled), traceback_file


@pytest.mark.parametrize("payload", [True, False])
def test_payload_zips_compile_once_other_zips_as_python_does(tmp_path, payload):
    name = "ansible_ping_payload.zip" if payload else "plain.zip"
    runs = []
    for i in range(2):   # a new zip each run, as ansible writes one per task
        (tmp_path / str(i)).mkdir()
        archive = _zip(tmp_path / str(i) / name, "v1")
        runs.append((archive,) + _run(archive, tmp_path / "cache"))
    for archive, (value, file, importer), compiled, traceback_file in runs:
        assert value == "v1" and file == archive + "/pkg/mod.py"
        assert importer == ("PayloadZipImporter" if payload else "zipimporter")
        assert traceback_file == archive + "/pkg/mod.py"   # tracebacks name this run's file, cached or not
    compiles = [r[2] for r in runs]
    if payload:
        assert compiles == [2, 0]    # pkg and pkg.mod once, then from the cache
    else:
        assert compiles[0] == compiles[1] >= 2   # zipimport compiles each module on every import (twice, in fact)
    assert (tmp_path / "cache").exists() == payload


def test_changed_source_is_compiled_again(tmp_path):
    for i, value in enumerate(["v1", "v2"]):
        (tmp_path / str(i)).mkdir()
        archive = _zip(tmp_path / str(i) / "ansible_x_payload.zip", value)
        (got, _, _), compiled, _ = _run(archive, tmp_path / "cache")
        assert got == value and compiled == 1 + (i == 0)   # pkg/__init__ is unchanged


def test_off_leaves_the_path_hooks_alone(monkeypatch):
    sys.path.insert(0, str(REPO / "tools"))
    try:
        cache = importlib.import_module("ansiballz_bytecode_cache")
    finally:
        sys.path.pop(0)
    monkeypatch.setenv("PD_ANSIBALLZ_BYTECODE_CACHE", "off")
    hooks = list(sys.path_hooks)
    cache.install()
    assert sys.path_hooks == hooks
