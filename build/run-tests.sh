#!/usr/bin/env bash
# Runs every test project once and prints one closing line: "N passed, N failed, N skipped".
set -uo pipefail
configuration="${1:-Release}"
root="$(cd "$(dirname "$0")/.." && pwd)"
results="$root/.artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

dotnet test "$root/Waypoint.sln" -c "$configuration" --no-build \
  --logger "trx" --results-directory "$results" \
  --blame-hang-timeout 5m -- RunConfiguration.TreatNoTestsAsError=false
status=$?

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  n=$(sed -n 's/.* notExecuted="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${n:-0}))
done
echo "Tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
