#!/usr/bin/env bash
# Print the path of a temporary ansible_collections/fleetops/prometheus_agent holding a copy
# of what git would list here (tracked and untracked-but-not-ignored files).
# Usage: tree=$(tests/scripts/collection_tree.sh [BASE_DIR])
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
base=${1:-$(mktemp -d /tmp/fleetops-coll.XXXXXX)}
dest="$base/ansible_collections/fleetops/prometheus_agent"
rm -rf "$dest"
mkdir -p "$dest"
(cd "$src" && git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$dest")
echo "$dest"
