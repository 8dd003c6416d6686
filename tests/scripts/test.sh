#!/usr/bin/env bash
# `make test`: install what is missing, then run every test stage.
#   tests/scripts/test.sh [stage ...]   stages: build docs lint changelog molecule sanity unit integration
#   FLEETOPS_REPEAT=N tests/scripts/test.sh integration   each stage N times in a row (make test-repeat N=5)
# Every stage runs even when an earlier one failed; the exit status is non-zero if any failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 1
export VENV="$root/.venv"
"$root/tests/scripts/bootstrap.sh" || { echo "bootstrap failed" >&2; exit 1; }
export PATH="$VENV/bin:$PATH"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0
mkdir -p tests/output

stages=("$@")
if [ ${#stages[@]} -eq 0 ] && [ "${FLEETOPS_FULL_TESTS:-0}" = 1 ]; then
  stages=(build docs lint changelog molecule sanity unit integration integration_long)
fi
[ ${#stages[@]} -gt 0 ] || stages=(build docs lint changelog molecule sanity unit integration)
failed=()
declare -A took
repeat=${FLEETOPS_REPEAT:-1}
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "FLEETOPS_REPEAT must be a positive number, not '$repeat'" >&2; exit 1; }
runs=()
run_suffix=""

# a copy of this collection installed in the default path (older molecule runs did, with their
# prerun) shadows the checkout for ansible-lint and molecule: remove it
stale="$HOME/.ansible/collections/ansible_collections/fleetops/prometheus_agent"
if [ -e "$stale" ] && [ ! -L "$stale" ]; then
  echo "removing $stale (an installed copy of this collection that would shadow the checkout)"
  rm -rf "$stale"
fi

coll_base=""
collections() {
  # a collection tree for the tools that need one installed (ansible-doc, molecule)
  if [ -z "$coll_base" ]; then
    coll_base=$(mktemp -d /tmp/fleetops-colls.XXXXXX)
    mkdir -p "$coll_base/ansible_collections/fleetops"
    ln -s "$root" "$coll_base/ansible_collections/fleetops/prometheus_agent"
  fi
  echo "$coll_base"
}

stage_build() {
  local out
  out=$(mktemp -d)
  ansible-galaxy collection build --force --output-path "$out" . >/dev/null || return 1
  local tarball
  tarball=$(ls "$out"/fleetops-prometheus_agent-*.tar.gz)
  if tar -tzf "$tarball" | grep -E '^(tests|bench|\.venv|\.ci|molecule|reports)/|^Makefile$|requirements-dev.txt' ; then
    echo "build: the artifact holds test or dev files (above)" >&2
    return 1
  fi
  echo "build: $(basename "$tarball") $(tar -tzf "$tarball" | wc -l) files, no test or dev files"
  # the execution environment's build context, named as docs/awx.md says, with promtool's
  # package checked by its pinned sha256 before it is unpacked
  local ee="$out/ee" cf
  mkdir -p "$ee/build" && cp execution-environment.yml requirements.txt bindep.txt "$ee/" && cp "$tarball" "$ee/build/"
  ansible-builder create --file "$ee/execution-environment.yml" --context "$ee/context" --output-filename Containerfile >/dev/null \
    || { echo "build: ansible-builder create failed" >&2; rm -rf "$out"; return 1; }
  cf="$ee/context/Containerfile"
  if ! grep -Eq '^ARG PROMTOOL_DEB_SHA256=[0-9a-f]{64}$' "$cf" \
     || ! grep -Eq '^RUN .*sha256sum -c - && .*/usr/local/bin/promtool --version' "$cf"; then
    echo "build: $cf has no sha256-checked promtool step" >&2; rm -rf "$out"; return 1
  fi
  echo "build: ansible-builder create: context/Containerfile $(wc -l < "$cf") lines, promtool's .deb checked by sha256"
  rm -rf "$out"
}

stage_docs() {
  local ok=0 m
  export ANSIBLE_COLLECTIONS_PATH
  ANSIBLE_COLLECTIONS_PATH=$(collections)
  for m in plugins/modules/*.py; do
    m=$(basename "$m" .py)
    if ansible-doc "fleetops.prometheus_agent.$m" > "tests/output/ansible-doc-$m.txt" 2>&1; then
      echo "ansible-doc fleetops.prometheus_agent.$m: ok"
    else
      echo "ansible-doc fleetops.prometheus_agent.$m: FAILED"; cat "tests/output/ansible-doc-$m.txt"; ok=1
    fi
  done
  for m in plugins/inventory/*.py; do
    [ -e "$m" ] || continue
    m=$(basename "$m" .py)
    ansible-doc -t inventory "fleetops.prometheus_agent.$m" > /dev/null || ok=1
  done
  # antsibull-docs, run from the collection tree: the plugins' and roles' documentation must
  # validate (schema, markup, references), and the docsite pages must build from it
  local tree="$ANSIBLE_COLLECTIONS_PATH/ansible_collections/fleetops/prometheus_agent" site
  if (cd "$tree" && antsibull-docs lint-collection-docs --plugin-docs --validate-collection-refs all \
        --disallow-unknown-collection-refs .); then
    echo "antsibull-docs lint-collection-docs --plugin-docs: ok"
  else
    echo "antsibull-docs lint-collection-docs --plugin-docs: FAILED"; ok=1
  fi
  site=$(mktemp -d)
  if antsibull-docs collection --use-current --squash-hierarchy --dest-dir "$site" fleetops.prometheus_agent \
       > tests/output/antsibull-docs-collection.txt 2>&1; then
    # a plugin whose documentation does not load gets an error page and exit status 0
    grep -q 'An error page will be generated' tests/output/antsibull-docs-collection.txt \
      && echo "antsibull-docs collection: error pages (above)" >> tests/output/antsibull-docs-collection.txt
    for m in plugins/modules/*.py; do
      [ -s "$site/$(basename "$m" .py)_module.rst" ] || echo "antsibull-docs collection: no page for $m" >> tests/output/antsibull-docs-collection.txt
    done
  else
    echo "antsibull-docs collection: exit status $?" >> tests/output/antsibull-docs-collection.txt
  fi
  if grep -q '^antsibull-docs collection: ' tests/output/antsibull-docs-collection.txt; then
    echo "antsibull-docs collection: FAILED"; cat tests/output/antsibull-docs-collection.txt; ok=1
  else
    echo "antsibull-docs collection: $(find "$site" -name '*.rst' | wc -l) pages, one per module"
  fi
  rm -rf "$site"
  return $ok
}

stage_lint() {
  [ -d roles ] || return 0
  ANSIBLE_COLLECTIONS_PATH=$(collections) ansible-lint --offline --profile production roles playbooks
}

stage_changelog() {
  # the fragments (released or not: one that arrives after a release is linted the same way)
  # and the release history
  antsibull-changelog lint && antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml || return 1
  # CHANGELOG.rst is generated from changelogs/changelog.yaml alone (unreleased fragments are not
  # in it): it must be what `antsibull-changelog generate` makes of it now
  local out rc=0
  out=$(mktemp -d)
  if ! antsibull-changelog generate --output "$out/CHANGELOG.rst" > "$out/log" 2>&1; then
    cat "$out/log"; echo "changelog: antsibull-changelog generate failed" >&2; rc=1
  elif ! diff -u CHANGELOG.rst "$out/CHANGELOG.rst"; then
    echo "changelog: CHANGELOG.rst is not what antsibull-changelog generate makes of changelogs/changelog.yaml (above):" \
      "run it and commit CHANGELOG.rst" >&2; rc=1
  else
    echo "changelog: fragments lint, CHANGELOG.rst is current"
  fi
  rm -rf "$out"
  return $rc
}

stage_molecule() {
  local ok=0 scen lab=""
  export ANSIBLE_COLLECTIONS_PATH
  ANSIBLE_COLLECTIONS_PATH=$(collections)
  # one lab for every scenario (their prepare step starts one only when none is given)
  if [ -z "${FLEETOPS_LAB_WORKDIR:-}" ]; then
    lab=$(mktemp -d /tmp/fleetops-molecule-lab.XXXXXX)
    python tests/lab/fleetlab up --workdir "$lab" --clusters 1 >/dev/null || { echo "molecule: the lab did not start" >&2; return 1; }
  fi
  for scen in $(find roles -path '*/molecule/*/molecule.yml' 2>/dev/null | sort); do
    local roledir scenario
    roledir=$(dirname "$(dirname "$(dirname "$scen")")")
    scenario=$(basename "$(dirname "$scen")")
    echo "== molecule test -s $scenario in $roledir"
    # molecule keeps scenario state under ~/.ansible/tmp across checkouts: start clean
    (cd "$roledir" && molecule reset -s "$scenario" >/dev/null 2>&1
     FLEETOPS_LAB_WORKDIR=${FLEETOPS_LAB_WORKDIR:-$lab} molecule test -s "$scenario") || ok=1
  done
  if [ -n "$lab" ]; then
    python tests/lab/fleetlab down --workdir "$lab" >/dev/null || ok=1
    rm -rf "$lab"
  fi
  return $ok
}

stage_sanity() { "$root/tests/scripts/sanity.sh"; }

stage_unit() {
  python -m pytest -q -p no:cacheprovider tests/unit -n 2 --junitxml=tests/output/junit-unit.xml
}

# Every integration suite runs here, the fault matrix and the remediation end-to-end tests too, in
# pytest-xdist workers (--dist loadfile: the tests of a file stay together in one worker, in their
# order; each worker starts labs of its own, so faults never cross). --dist loadgroup, with a group
# per package of modules/ and roles/, ran test_fault_matrix's test_matrix_counts before the matrix's
# rounds (5 of 21 rows) in a fresh-clone run: not used. The daily playbook on 200 synthetic
# clusters is a scale test: `make test-full` adds it (bench/ measures the fleet at scale).
LONG_SUITES=(tests/integration/roles/test_daily_synthetic.py)
# 4 workers on 2 cores: the tests wait (restarts, remote-write windows, timeouts) as much as they
# compute. Integration took 1242-1377 s with 3 in fresh-clone runs, 887 s with 4 (2026-12-07, same machine)
WORKERS=${FLEETOPS_TEST_WORKERS:-4}

stage_integration() {
  local ignore=() s
  for s in "${LONG_SUITES[@]}"; do ignore+=(--ignore "$s"); done
  # the longest files first, so that no worker starts one of them last
  local first=(tests/integration/remediation tests/integration/reliability tests/integration/roles) rest=() d
  for d in tests/integration/*/; do
    d=${d%/}
    case " ${first[*]} " in *" $d "*) ;; *) rest+=("$d") ;; esac
  done
  python -m pytest -q -p no:cacheprovider -rfE --durations=15 -n "$WORKERS" --dist loadfile \
    "${first[@]}" "${rest[@]}" "${ignore[@]}" --junitxml="tests/output/junit-integration$run_suffix.xml"
}

stage_integration_long() {
  python -m pytest -q -p no:cacheprovider -rfE --durations=15 "${LONG_SUITES[@]}" \
    --junitxml=tests/output/junit-integration-long.xml
}

# how busy the machine's CPUs were during a stage (all processes, ours and others'): a stage
# near 100% is bound by CPU, one well below it waits (sleeps, timeouts)
declare -A busy
cpu_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8, $5+$6}' /proc/stat 2>/dev/null; }
cpu_busy() {
  local b1 i1 b2 i2
  read -r b1 i1 <<< "$1"; read -r b2 i2 <<< "$2"
  [ -n "$b1" ] && [ $(( b2 - b1 + i2 - i1 )) -gt 0 ] && echo "$(( 100 * (b2 - b1) / (b2 - b1 + i2 - i1) ))%" || echo "-"
}

# sanity (ansible-test: its venvs, pylint; single-threaded, on a copy of the collection of its own)
# runs beside the other stages before integration, which then waits for it: on two cores the
# stages before integration take about half as long. FLEETOPS_SERIAL_STAGES=1 runs them one by one.
background=""
if [ "${FLEETOPS_SERIAL_STAGES:-0}" != 1 ] && [ "$repeat" -eq 1 ] && [ ${#stages[@]} -gt 1 ]; then
  for s in "${stages[@]}"; do [ "$s" = sanity ] && background=sanity; done
fi
bg_pid="" bg_start=0 bg_cpu=""
start_background() {
  bg_start=$(date +%s); bg_cpu=$(cpu_ticks)
  echo
  echo "######## stage: $1 (runs beside the next stages; its output follows when it ends)"
  ( "stage_$1" > "tests/output/stage-$1.log" 2>&1 ) &
  bg_pid=$!
}
finish_background() {
  [ -n "$bg_pid" ] || return 0
  local status=ok
  wait "$bg_pid" || { status=FAILED; failed+=("$background"); }
  took[$background]=$(( $(date +%s) - bg_start ))
  busy[$background]=$(cpu_busy "$bg_cpu" "$(cpu_ticks)")
  runs+=("$background")
  echo
  echo "######## stage: $background ($status, ran beside the stages above)"
  cat "tests/output/stage-$background.log"
  bg_pid=""
}
[ -n "$background" ] && start_background "$background"

for s in "${stages[@]}"; do
  [ "$s" = "$background" ] && continue
  case $s in integration|integration_long) finish_background ;; esac
  for ((run = 1; run <= repeat; run++)); do
    label=$s
    run_suffix=""
    if [ "$repeat" -gt 1 ]; then label="$s#$run"; run_suffix="-$run"; fi
    echo
    echo "######## stage: $label"
    start=$(date +%s)
    cpu_before=$(cpu_ticks)
    if "stage_$s"; then status=ok; else failed+=("$label"); status=FAILED; fi
    took[$label]=$(( $(date +%s) - start ))
    busy[$label]=$(cpu_busy "$cpu_before" "$(cpu_ticks)")
    runs+=("$label")
    [ "$repeat" -gt 1 ] && echo "######## $label: $status in ${took[$label]}s"
  done
done
finish_background

[ -n "$coll_base" ] && rm -rf "$coll_base"
echo
for s in "${runs[@]}"; do
  status=ok
  for f in "${failed[@]}"; do [ "$f" = "$s" ] && status=FAILED; done
  printf '  %-15s %-7s %4ss  CPU busy %s\n' "$s" "$status" "${took[$s]}" "${busy[$s]}"
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed stages: ${failed[*]}"
  exit 1
fi
