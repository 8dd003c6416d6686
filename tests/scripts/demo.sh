#!/usr/bin/env bash
# `make demo`: start a 3-cluster lab where lab-2's remote-write path fails and lab-3's WAL is
# corrupt, run the audit playbook (daily cadence) against it, print a one-screen summary and
# the path of the HTML report, stop the lab.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export VENV="$root/.venv"
FLEETOPS_SKIP_CHROMIUM=1 "$root/tests/scripts/bootstrap.sh"
export PATH="$VENV/bin:$PATH"

lab=$(mktemp -d /tmp/fleetops-demo-lab.XXXXXX)
fleetlab() { python "$root/tests/lab/fleetlab" "$@"; }
cleanup() { fleetlab down --workdir "$lab" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "== starting the lab (3 clusters) in $lab"
fleetlab up --workdir "$lab" --clusters 3
echo "== injecting trouble: lab-2 remote-write path failing, lab-3 corrupt WAL"
# lab-2: its PrometheusAgent now remote-writes to a closed port (the operator loop re-renders
# and reloads the agent): retries rise, nothing is delivered, the backlog grows
k2() { kubectl --kubeconfig "$lab/kubeconfig" --context lab-2 -n monitoring "$@"; }
patch=$(k2 get prometheusagent lab-2 -o json | python -c '
import json, sys
spec = json.load(sys.stdin)["spec"]
for rw in spec["remoteWrite"]:
    rw["url"] = "http://127.0.0.1:9/api/v1/write"
print(json.dumps({"spec": {"remoteWrite": spec["remoteWrite"]}}))')
k2 patch prometheusagent lab-2 --type merge -p "$patch" >/dev/null
# lab-3: the agent stopped with flipped bytes in a WAL record
fleetlab fault wal-corrupt-stopped --cluster lab-3 --workdir "$lab" >/dev/null
sleep 15   # let lab-2's backlog build up so the lag is visible

coll=$(mktemp -d /tmp/fleetops-demo-colls.XXXXXX)
mkdir -p "$coll/ansible_collections/fleetops"
ln -s "$root" "$coll/ansible_collections/fleetops/prometheus_agent"
export ANSIBLE_COLLECTIONS_PATH="$coll"
report_dir="$root/reports/demo-$(date -u +%Y%m%dT%H%M%SZ)"

echo "== ansible-playbook fleetops.prometheus_agent.audit -e cadence=daily"
ansible-playbook fleetops.prometheus_agent.audit -i "$lab/inventory.yml" \
  -e cadence=daily -e fleet_wal_verify=full -e fleet_report_dir="$report_dir" || true

echo
echo "================ fleet summary ================"
python - "$report_dir/fleet-report.json" <<'PYEOF'
import json, sys
report = json.load(open(sys.argv[1]))
print("generated %s, cadence %s: %s" % (report["generated_at"], report["cadence"], report["summary"]))
for name, cluster in sorted(report["clusters"].items()):
    bad = [c for c in cluster["checks"] if c["status"] != "ok"]
    print("%-10s %-8s %s" % (name, cluster["status"], "; ".join("%s %s: %s" % (c["id"], c["status"], c["message"]) for c in bad[:4]) or "all checks ok"))
PYEOF
echo
echo "HTML report: $report_dir/fleet-report.html"
echo "JSON: $report_dir/fleet-report.json  Markdown: $report_dir/fleet-report.md  Prometheus: $report_dir/fleet-report.prom"
rm -rf "$coll"
