#!/usr/bin/env bash
# Runs every test project once and prints one closing line: "N passed, N failed, N skipped".
set -uo pipefail
configuration="${1:-Release}"
root="$(cd "$(dirname "$0")/.." && pwd)"
results="$root/.artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"

# One test project at a time (-m:1): most of them start a box (a control plane, istiod, a node and its pods), and two
# boxes side by side on a 2-core runner starved each other past their own limits (CI, 2026-12-03: the ambient suite's
# fixture hung until the blame collector killed it, while the end-to-end suite's 39-pod box ran beside it).
dotnet test "$root/Waypoint.sln" -c "$configuration" --no-build -m:1 \
  --logger "trx" --results-directory "$results" \
  --blame-hang-timeout 10m -- RunConfiguration.TreatNoTestsAsError=false
status=$?

passed=0; failed=0; skipped=0
# Count each test's own outcome: the TRX <Counters> do not count xunit skips (notExecuted stays 0).
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  outcomes=$(grep -o '<UnitTestResult [^>]*>' "$trx" | grep -o ' outcome="[A-Za-z]*"')
  p=$(grep -c 'outcome="Passed"' <<<"$outcomes")
  f=$(grep -cE 'outcome="(Failed|Error|Timeout|Aborted)"' <<<"$outcomes")
  n=$(grep -cE 'outcome="(NotExecuted|Inconclusive|NotRunnable|Pending)"' <<<"$outcomes")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + n))
done
# Name each failure and the first lines of its message just above the closing line, where a CI log's tail shows them.
if [ "$failed" -gt 0 ]; then
  perl -0777 -ne '
    while (/<UnitTestResult [^>]*?testName="([^"]*)"[^>]*?outcome="(?:Failed|Error|Timeout|Aborted)"(.*?)<\/UnitTestResult>/sg) {
      my ($name, $body) = ($1, $2);
      my ($message) = $body =~ /<Message>(.*?)<\/Message>/s;
      $message //= "(no message)";
      for ($name, $message) { s/&lt;/</g; s/&gt;/>/g; s/&quot;/"/g; s/&apos;/\x27/g; s/&amp;/&/g; }
      my @lines = grep { /\S/ } split /\n/, $message;
      print "FAILED $name\n";
      print "  $_\n" for @lines[0 .. ($#lines < 5 ? $#lines : 5)];
    }' "$results"/*.trx
fi
# A test run the blame collector aborted (a hang past the timeout, or a crashed test host) reports only what finished:
# name it, count the tests it never ran from the assembly's own listing, and name the first of them (the hung ones).
aborted=0; notrun=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  grep -q '<RunInfo [^>]*outcome="Error"' "$trx" || continue
  aborted=$((aborted + 1))
  assembly=$(grep -o '<TestMethod codeBase="[^"]*"' "$trx" | head -1 | sed 's/.*codeBase="//; s/"$//')
  reason=$(perl -0777 -ne 'print "$1" if /<RunInfo [^>]*outcome="Error"[^>]*>\s*<Text>(.*?)<\/Text>/s' "$trx")
  echo "ABORTED ${assembly:-$(basename "$trx")}: ${reason}"
  perl -0777 -ne 'print "  $1\n" while /<RunInfo [^>]*outcome="Warning"[^>]*>\s*<Text>(.*?)<\/Text>/sg' "$trx"
  if [ -n "$assembly" ] && [ -f "$assembly" ]; then
    ran=$(grep -o '<UnitTestResult [^>]*testName="[^"]*"' "$trx" | sed 's/.*testName="//; s/"$//' | sort -u)
    listed=$(dotnet test "$assembly" --list-tests 2>/dev/null | sed -n '/The following Tests are available:/,$p' | tail -n +2 | sed 's/^ *//' | grep -v '^$' | sort -u)
    missing=$(comm -23 <(echo "$listed") <(echo "$ran") | grep -v '^$')
    count=$(grep -c . <<<"$missing")
    notrun=$((notrun + count))
    echo "  ${count} of its tests did not run, among them:"
    head -5 <<<"$missing" | sed 's/^/    /'
  fi
done
if [ "$aborted" -gt 0 ]; then
  echo "Tests: ${passed} passed, ${failed} failed, ${skipped} skipped, ${notrun} not run (${aborted} test run(s) aborted)"
  [ "$status" -ne 0 ] || status=1
else
  echo "Tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
fi
if [ "$status" -eq 0 ] && [ "$passed" -eq 0 ]; then
  echo "no test ran" >&2
  exit 1
fi
exit "$status"
