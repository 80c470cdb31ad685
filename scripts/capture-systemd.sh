#!/usr/bin/env bash
# Re-record core/tests/fixtures/systemd/*.txt from a real systemd: boots
# systemd as PID 1 of a fresh PID + mount namespace (needs root and a
# writable cgroup hierarchy; not part of CI), installs two `keel service unit`
# units — one `keel supervise command -- sleep` (Type=notify, WatchdogSec=30s)
# and one `sh -c 'exit 3'` crash loop — and saves their `systemctl show`.
# Usage: sudo bash scripts/capture-systemd.sh [path/to/keel]
set -euo pipefail
cd "$(dirname "$0")/.."
K=${1:-target/release/keel}
D=core/tests/fixtures/systemd
P=--property=LoadState,ActiveState,SubState,ExecMainStatus,ExecMainCode,MainPID,Result,NRestarts
mkdir -p "$D"
install -m 755 "$K" /usr/local/bin/keel-capture-tmp
"$K" service unit --system --watchdog 30s -- /usr/local/bin/keel-capture-tmp supervise command -- /bin/sleep 1000 \
  >/etc/systemd/system/keel-capture-ok.service
"$K" service unit --system --watchdog 0 --restart-sec 1s -- /bin/sh -c 'exit 3' \
  >/etc/systemd/system/keel-capture-crash.service
unshare --pid --fork --mount --mount-proc env container=keel-capture /lib/systemd/systemd --system >/dev/null 2>&1 &
sleep 5
SD=$(pgrep -f '^/lib/systemd/systemd --system' | tail -1)
N="timeout 20 nsenter -t $SD -m -p"
cleanup() {
  kill -9 "$SD" 2>/dev/null || true
  rm -f /etc/systemd/system/keel-capture-{ok,crash}.service /usr/local/bin/keel-capture-tmp
}
trap cleanup EXIT
$N systemctl start keel-capture-ok.service
$N systemctl start --no-block keel-capture-crash.service
sleep 8
$N systemctl show keel-capture-crash.service >"$D/crashloop-full.txt"
$N systemctl show keel-capture-crash.service "$P" >"$D/crashloop.txt"
$N systemctl show keel-capture-ok.service "$P" >"$D/running.txt"
$N systemctl show keel-capture-ok.service >"$D/running-full.txt"
$N systemctl show keel-no-such-unit.service "$P" >"$D/not-found.txt"
$N systemctl kill --signal=KILL keel-capture-ok.service
$N systemctl stop keel-capture-crash.service
sleep 1
$N systemctl show keel-capture-ok.service "$P" >"$D/killed-restarting.txt"
$N systemctl show keel-capture-crash.service "$P" >"$D/stopped.txt"
echo "captured into $D (the MainPID in running*.txt is asserted by core/tests/supervisor.rs)"
