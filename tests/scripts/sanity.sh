#!/usr/bin/env bash
# ansible-test sanity, offline, on a copy of the collection placed at
# ansible_collections/fleetops/prometheus_agent. No ignore file.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$root/.venv}
py=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

# ansible-test bootstraps pip in its venvs from a script it downloads from a host that this
# machine cannot reach; it uses a cached copy when there is one. This stand-in installs pip
# with ensurepip and then installs what it was asked for from the configured registry.
pip_version=$("$VENV/bin/python" - <<'PYEOF'
import re, pathlib, ansible_test
src = pathlib.Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
print(re.search(r"pip='([0-9.]+)'", src.read_text()).group(1))
PYEOF
)
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -f "$cache" ]; then
  mkdir -p "$(dirname "$cache")"
  cat > "$cache" <<'PYEOF'
"""Offline stand-in for get-pip.py (written by fleetops tests/scripts/sanity.sh)."""
import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap()
for name in ("PIP_CONFIG_FILE", "ENSUREPIP_OPTIONS"):
    os.environ.pop(name, None)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "--upgrade"] + args))
PYEOF
fi

work=$(mktemp -d /tmp/fleetops-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest=$("$root/tests/scripts/collection_tree.sh" "$work")
if ls "$dest"/tests/sanity/ignore-*.txt >/dev/null 2>&1; then
  echo "sanity: ignore files are not allowed" >&2
  exit 1
fi
cd "$dest"
# ansible-test lints what git lists: give it a repository of exactly these files.
git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -qm tree
export PATH="$VENV/bin:$PATH"
ansible-test sanity --venv --python "$py" --color no "$@"
