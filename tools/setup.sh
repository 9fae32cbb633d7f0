#!/usr/bin/env bash
# `make setup`: everything a fresh machine of this kind needs to run the tests and the lab.
# Safe to run twice: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
VENV=${VENV:-.venv}

log() { printf '\n==> %s\n' "$*"; }

# 1. Debian packages the lab and the tests use (sshd for the VM hosts, ip for namespaces, chromium
# and a font for the deployment report's screenshot test).
debs=(openssh-server openssh-client iproute2 rsync git curl chromium fonts-liberation)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# 2. The virtualenv, with the newest Python >= 3.11 on the machine.
PY=$(tools/find-python)
want=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ -x "$VENV/bin/python" ]; then
  have=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [ "$have" != "$want" ]; then log "recreating $VENV ($have -> $want)"; rm -rf "$VENV"; fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $PY (Python $want)"
  "$PY" -m venv "$VENV"
fi

# 3. Python packages; re-run pip only when a requirements file changed.
stamp="$VENV/.requirements.sha256"
sum=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  log "installing Python packages into $VENV (ansible, boto3, moto, test tools)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$sum" > "$stamp"
else
  log "Python packages up to date"
fi

# 4. This checkout as progressive.delivery in a repo-local collections path.
mkdir -p build/collections/ansible_collections/progressive
ln -sfn "$root" build/collections/ansible_collections/progressive/delivery

# 5. Modules run from ansible's per-task zips, which Python compiles from source every time; in this venv a path hook
#    caches their bytecode (tools/ansiballz_bytecode_cache.py; not part of the collection).
site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
cp tools/ansiballz_bytecode_cache.py "$site/pd_ansiballz_bytecode_cache.py"
echo "import pd_ansiballz_bytecode_cache; pd_ansiballz_bytecode_cache.install()" > "$site/pd_ansiballz_bytecode_cache.pth"

# 6. ansible-test bootstraps pip in its venvs from a script it downloads; give it a local one.
tools/ansible-test-pip-shim.sh "$VENV/bin/python"

log "setup done: $("$VENV/bin/ansible" --version | head -1), $("$VENV/bin/python" --version)"
