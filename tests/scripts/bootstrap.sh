#!/usr/bin/env bash
# Install everything the tests and the demo need on a fresh machine of this kind:
# Debian packages (prometheus 2.42 + promtool, node_exporter, chromium) and a venv with
# requirements-dev.txt. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."

need_apt=()
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus-node-exporter >/dev/null 2>&1 || need_apt+=(prometheus-node-exporter)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
if [ "${FLEETOPS_SKIP_CHROMIUM:-0}" != 1 ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
fi
command -v kubectl >/dev/null 2>&1 || echo "note: kubectl not found; kubectl-based lab tests will be skipped" >&2
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  python3 -m venv "$VENV"
fi
# the release tools at the versions the changelog, docs and build stages are written for
release_tools=("antsibull-changelog==0.36.*" "antsibull-docs==2.28.*" "ansible-builder==3.2.*")
stamp="$VENV/.requirements.sha256"
want=$( (cat requirements.txt requirements-dev.txt; printf '%s\n' "${release_tools[@]}") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== pip install -r requirements-dev.txt ${release_tools[*]}"
  "$VENV/bin/pip" install -q --disable-pip-version-check -U pip
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-dev.txt "${release_tools[@]}"
  echo "$want" > "$stamp"
fi
