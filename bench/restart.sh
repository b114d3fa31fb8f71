#!/usr/bin/env bash
# Start-up time of a broker holding a big partition: fill one partition
# with GIB GiB, then time from start to ready (/readyz) after SIGKILL and
# after a clean stop. See BENCHMARKS.md ("Restart").
#
# Knobs (environment):
#   GIB=10                   data to fill the partition with
#   DATA=bench/.data/restart data directory (emptied first, removed after)
#   PORT=19192 MPORT=19744   listeners on 127.0.0.1
# Prints one line per figure and a JSON summary last.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
GIB=${GIB:-10}
DATA=${DATA:-$BENCH_DIR/.data/restart}
PORT=${PORT:-19192}
MPORT=${MPORT:-19744}
BIN=$BENCH_DIR/.bin/gregor
BROKER=127.0.0.1:$PORT
RECORD=65536

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_gregor
rm -rf "$DATA"
mkdir -p "$DATA"
MADDR=127.0.0.1:$MPORT
serve() { start_broker 1 "$DATA.log" --data-dir "$DATA" --listen "$BROKER" --metrics-listen "$MADDR"; }
trap 'stop_all; rm -rf "$DATA"' EXIT

serve
wait_ready "$MADDR"
records=$((GIB * 1024 * 1024 * 1024 / RECORD))
log "filling one partition with $GIB GiB ($records records of $RECORD bytes)"
t=$(now)
"$BIN" bench produce --brokers "$BROKER" --topic big --partitions 1 --acks 1 --record-size "$RECORD" \
	--records "$records" --progress 0 --json >/dev/null 2>&1
fill_s=$(since "$t")
size=$(du -sb "$DATA" | awk '{ print $1 }')
log "filled in ${fill_s}s: $size bytes on disk"

timed_restart KILL "$MADDR"
kill_s=$RESTART_S
timed_restart TERM "$MADDR"
clean_s=$RESTART_S
stop_broker 1 TERM

cat <<EOF
partition                       $size bytes ($GIB GiB of $RECORD-byte records)
start-up to ready               ${kill_s} s after SIGKILL, ${clean_s} s after a clean stop
EOF
printf '{"bytes":%d,"startup_sigkill_s":%s,"startup_clean_s":%s}\n' "$size" "$kill_s" "$clean_s"
