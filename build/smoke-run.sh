#!/usr/bin/env bash
# Checks `make run` as a user types it: the mesh comes up, one request through the waypoint answers 200,
# and SIGINT stops it with no process of its own left behind.
set -uo pipefail
configuration="${1:-Release}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export XDG_RUNTIME_DIR="$work/run"
mkdir -p "$XDG_RUNTIME_DIR"
waypoint=(dotnet "src/Waypoint.Host/bin/$configuration/net10.0/waypoint.dll")

# `make run` as a job of its own (job control: its own process group, SIGINT not ignored), so the check
# can signal the whole group as Ctrl-C in a terminal would.
set -m
make --no-print-directory run CONFIGURATION="$configuration" > "$work/run.log" 2>&1 &
leader=$!
set +m
fail() {
  echo "smoke-run: $*" >&2
  sed 's/^/  | /' "$work/run.log" >&2
  kill -KILL -- "-$leader" 2>/dev/null
  exit 1
}

for _ in $(seq 1 240); do
  grep -q 'The local mesh is up.' "$work/run.log" && break
  kill -0 "$leader" 2>/dev/null || fail "make run exited before the mesh was up"
  sleep 0.5
done
grep -q 'The local mesh is up.' "$work/run.log" || fail "the mesh was not up after 120 s"

answer=$("${waypoint[@]}" local curl http://echo.demo.svc.cluster.local/hello 2>&1)
status=$(head -1 <<<"$answer")
grep -q '200' <<<"$status" || fail "the request through the waypoint answered: $answer"
echo "smoke-run: make run answered: $status"

# Every process of the mesh, to check after the stop.
pids=$(pgrep -g "$leader" | tr '\n' ' ')
kill -INT -- "-$leader"
for _ in $(seq 1 60); do kill -0 "$leader" 2>/dev/null || break; sleep 0.5; done
kill -0 "$leader" 2>/dev/null && fail "make run was still running 30 s after SIGINT"
left=""
for pid in $pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
[ -z "$left" ] || fail "processes left after the stop:$left"
echo "smoke-run: stopped cleanly"
