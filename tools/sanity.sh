#!/usr/bin/env bash
# `ansible-test sanity` on the collection's plugins. ansible-test wants the collection at
# .../ansible_collections/progressive/delivery/ as a real directory (it resolves symlinks
# of the working directory), so copy what ships into build/sanity and link the
# collections it imports beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
PY=${PY:-$root/.venv/bin/python}
tree=build/sanity/ansible_collections
dest=$tree/progressive/delivery
mkdir -p "$dest" "$tree/amazon" "$tree/community"
rsync -a --delete --exclude '__pycache__' \
  --include '/galaxy.yml' --include '/meta/***' --include '/plugins/***' --include '/roles/***' \
  --include '/playbooks/***' --include '/tests/' --include '/tests/unit/***' --include '/tests/sanity/***' \
  --include '/README.md' --include '/docs/***' --include '/changelogs/***' \
  --exclude '*' ./ "$dest/"
site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections
ln -sfn "$site/amazon/aws" "$tree/amazon/aws"
ln -sfn "$site/community/aws" "$tree/community/aws"
ln -sfn "$site/community/general" "$tree/community/general"
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
cd "$dest"
# ansible-test lists files with git when it finds a repository; this copy lies inside the
# checkout's ignored build/, so give it a repository of its own holding exactly the copy.
[ -d .git ] || git init -q .
git add -A . >/dev/null
# Only this collection's own content is tested; the linked collections are dependencies.
exec "$root/.venv/bin/ansible-test" sanity --venv --python "$pyver" --color no "$@" plugins/
