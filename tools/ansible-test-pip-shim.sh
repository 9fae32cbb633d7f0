#!/usr/bin/env bash
# ansible-test (sanity --venv) downloads get-pip.py from the internet to bootstrap pip in its
# virtualenvs. Offline, place a stand-in at the cache path it checks first: it bootstraps pip
# with ensurepip and installs the requested pip version from the package index.
set -euo pipefail
PY=${1:-.venv/bin/python}
versions=$("$PY" - <<'PY'
import os, re, glob
import ansible_test
base = os.path.dirname(ansible_test.__file__)
found = set()
for path in glob.glob(os.path.join(base, '_data', 'requirements', '*.txt')) + glob.glob(os.path.join(base, '_internal', '*.py')):
    with open(path) as f:
        text = f.read()
        found.update(re.findall(r"\bpip\s*==\s*([0-9][0-9.]*)", text))
        found.update(re.findall(r"\bpip\s*=\s*'([0-9][0-9.]*)'", text))
print(' '.join(sorted(found)))
PY
)
mkdir -p ~/.ansible/test/cache
for v in $versions; do
  cat > ~/.ansible/test/cache/get_pip_${v//./_}.py <<'SHIM'
# Offline stand-in for get-pip.py, written by progressive.delivery's tools/ansible-test-pip-shim.sh.
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
SHIM
done
echo "ansible-test pip bootstrap shims: ${versions:-none found}"
