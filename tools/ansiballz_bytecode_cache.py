"""Bytecode cache for the Python that ansible's modules run in, in the development venv only (`make setup` installs it
through a .pth file; nothing of it ships in the collection).

Why: ansible runs each module from a zip it builds per task (AnsiballZ). Python's zipimport finds no bytecode in that
zip, so every task compiles ansible.module_utils.basic, amazon.aws's module_utils and ours from source again: about
0.15-0.25 CPU-s of the 0.3-0.6 s a module task costs (measured 2026-12-02: an AnsiballZ ping 0.30 CPU-s, `import
ansible.module_utils.basic` from site-packages 0.09 s, from the payload zip 0.24 s). The lab's test suite runs a few
thousand module tasks on 2 cores, so this is minutes of CI.

What: a path hook for ansible's payload zips only (`ansible_<module>_payload.zip`), a zipimporter whose get_code looks
the compiled code up by a hash of the source (with the interpreter's cache tag, optimisation level and module name)
before compiling. The module's code is the same; only the compile is skipped. Code objects keep the file name of
this import (fixed up as importlib's own source loader does).

Cache: $PD_ANSIBALLZ_BYTECODE_CACHE, else ~/.cache/progressive-delivery/ansiballz-bytecode; PD_ANSIBALLZ_BYTECODE_CACHE=off
disables it. Entries are written atomically (temporary file + rename); an unreadable entry is compiled again.
"""
import hashlib
import marshal
import os
import sys
import zipimport

try:
    from _imp import _fix_co_filename
except ImportError:   # not CPython: leave file names as compiled
    def _fix_co_filename(code, path):
        return None

PAYLOAD_MARK = "_payload.zip"


def cache_dir():
    return os.environ.get("PD_ANSIBALLZ_BYTECODE_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "progressive-delivery", "ansiballz-bytecode")


def cache_key(fullname, source):
    tag = "%s\0%s\0%d\0%s\0" % (sys.implementation.cache_tag, sys.version, sys.flags.optimize, fullname)
    return hashlib.sha256(tag.encode() + source.encode("utf-8", "surrogatepass")).hexdigest()


class PayloadZipImporter(zipimport.zipimporter):
    """zipimporter for ansible's payload zips, compiling each source once per cache."""

    def __init__(self, path):
        archive = path.split(PAYLOAD_MARK, 1)[0] + PAYLOAD_MARK if PAYLOAD_MARK in path else ""
        if not os.path.basename(archive).startswith("ansible_"):
            raise ImportError("not an AnsiballZ payload", path=path)
        super().__init__(path)

    def _source_and_path(self, fullname):
        """(source, its path in the zip), or (None, None) for a module without source here. Not zipimport's
        get_filename(): it compiles the module to answer (and find_spec asks it)."""
        try:
            package = self.is_package(fullname)
            source = self.get_source(fullname)
        except Exception:   # pylint: disable=broad-except  # zipimport answers as it would without the cache
            return None, None
        if source is None:
            return None, None
        name = fullname.rpartition(".")[2]
        return source, os.path.join(self.archive, self.prefix,
                                    os.path.join(name, "__init__.py") if package else name + ".py")

    def get_filename(self, fullname):
        return self._source_and_path(fullname)[1] or super().get_filename(fullname)

    def get_code(self, fullname):
        source, filename = self._source_and_path(fullname)
        if source is None:
            return super().get_code(fullname)
        key = cache_key(fullname, source)
        entry = os.path.join(cache_dir(), key[:2], key)
        try:
            with open(entry, "rb") as f:
                code = marshal.load(f)
            _fix_co_filename(code, filename)
            return code
        except (OSError, EOFError, ValueError, TypeError):
            pass
        code = compile(source, filename, "exec", dont_inherit=True)
        try:
            os.makedirs(os.path.dirname(entry), exist_ok=True)
            tmp = "%s.%d.tmp" % (entry, os.getpid())
            with open(tmp, "wb") as f:
                marshal.dump(code, f)
            os.replace(tmp, entry)
        except OSError:
            pass
        return code


def install():
    if os.environ.get("PD_ANSIBALLZ_BYTECODE_CACHE", "").lower() == "off":
        return
    if PayloadZipImporter not in sys.path_hooks:
        sys.path_hooks.insert(0, PayloadZipImporter)
        sys.path_importer_cache.clear()
