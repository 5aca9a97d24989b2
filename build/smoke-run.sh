#!/usr/bin/env bash
# Checks `make run` as a user types it: the box comes up with the product installed (controller as a pod, ztunnel on),
# `waypoint local curl` from the ambient client pod is answered 200 by an echo pod *through the waypoint* (the
# x-routed-by header only examples/basic's HTTPRoute adds), and SIGINT stops it with no process of its own left behind.
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

# make run builds first (minutes on a busy machine), then starts the box: a safety limit for each.
for _ in $(seq 1 2400); do
  grep -q 'Starting the box' "$work/run.log" && break
  kill -0 "$leader" 2>/dev/null || fail "make run exited before starting the box"
  sleep 0.5
done
grep -q 'Starting the box' "$work/run.log" || fail "make run did not start the box after 20 min of building"
for _ in $(seq 1 800); do
  grep -q 'The local mesh is up (' "$work/run.log" && break
  kill -0 "$leader" 2>/dev/null || fail "make run exited before the mesh was up"
  sleep 0.5
done
grep -q 'The local mesh is up (' "$work/run.log" || fail "the mesh was not up 400 s after the box started"

# The first request may race the ztunnel's and the waypoint's last config push: poll, within a safety limit.
for _ in $(seq 1 120); do
  answer=$("${waypoint[@]}" local curl --max-time 10 http://echo.demo.svc.cluster.local/hello 2>&1)
  status=$(head -1 <<<"$answer" | tr -d '\r')
  grep -q '^HTTP/1.1 200' <<<"$status" && grep -qi '^x-routed-by: waypoint' <<<"$answer" && break
  kill -0 "$leader" 2>/dev/null || fail "make run exited before answering"
  sleep 1
done
grep -q '^HTTP/1.1 200' <<<"$status" || fail "the request through the waypoint answered: $answer"
grep -qi '^x-routed-by: waypoint' <<<"$answer" || fail "the answer did not come through the waypoint (no x-routed-by header): $answer"
grep -qi '^x-echo-pod: echo-' <<<"$answer" || fail "the answer did not come from an echo pod: $answer"
echo "smoke-run: make run answered through the waypoint: $status ($(grep -i '^x-echo-pod' <<<"$answer" | tr -d '\r'))"

# Every process of the mesh (the box re-executes itself in a session of its own: take the launcher's descendants too).
descendants() { echo "$1"; for child in $(pgrep -P "$1"); do descendants "$child"; done; }
pids="$(pgrep -g "$leader" | tr '\n' ' ') $(for p in $(pgrep -g "$leader"); do descendants "$p"; done | tr '\n' ' ')"
kill -INT -- "-$leader"
for _ in $(seq 1 120); do kill -0 "$leader" 2>/dev/null || break; sleep 0.5; done
kill -0 "$leader" 2>/dev/null && fail "make run was still running 60 s after SIGINT"
left=""
for pid in $pids; do kill -0 "$pid" 2>/dev/null && left="$left $pid"; done
[ -z "$left" ] || fail "processes left after the stop:$left"
echo "smoke-run: stopped cleanly"
