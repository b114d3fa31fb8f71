#!/usr/bin/env bash
# Many partitions on one broker: memory and descriptors per partition,
# CreateTopics and Metadata times, produce across 1,000 partitions against
# 10, and start-up times after a clean stop and after SIGKILL. See
# BENCHMARKS.md ("Many partitions").
#
# Knobs (environment):
#   TOPICS=10 PARTS=1000     TOPICS topics of PARTS partitions each
#   MAX_OPEN=0               log.max.open.files (0: half the open-file limit)
#   DURATION=10s             each produce run
#   DATA=bench/.data/partitions   data directory (emptied first)
#   PORT=19092 MPORT=19644   listeners on 127.0.0.1
# Prints one line per figure and a JSON summary last.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
TOPICS=${TOPICS:-10}
PARTS=${PARTS:-1000}
MAX_OPEN=${MAX_OPEN:-0}
DURATION=${DURATION:-10s}
DATA=${DATA:-$BENCH_DIR/.data/partitions}
PORT=${PORT:-19092}
MPORT=${MPORT:-19644}
BIN=$BENCH_DIR/.bin/gregor
BROKER=127.0.0.1:$PORT

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_gregor
rm -rf "$DATA"
mkdir -p "$DATA"
MADDR=127.0.0.1:$MPORT
serve() { start_broker 1 "$DATA.log" --data-dir "$DATA" --listen "$BROKER" --metrics-listen "$MADDR" --set "log.max.open.files=$MAX_OPEN"; }
trap stop_all EXIT

serve
wait_ready "$MADDR"
sleep 1
rss0=$(rss_kib 1)
heap0=$(metric "$MADDR" go_memstats_heap_inuse_bytes)
fds0=$(fds 1)

t0=$(now)
for i in $(seq 1 "$TOPICS"); do
	"$BIN" -b "$BROKER" topic create "many-$i" --partitions "$PARTS" --replication-factor 1 --timeout 300s >/dev/null
done
create_s=$(since "$t0")
total=$((TOPICS * PARTS))
sleep 2
rss1=$(rss_kib 1)
heap1=$(metric "$MADDR" go_memstats_heap_inuse_bytes)
fds1=$(fds 1)
log "created $total partitions in ${create_s}s"

meta=()
for _ in 1 2 3 4 5; do
	t=$(now)
	"$BIN" -b "$BROKER" topic list >/dev/null
	meta+=("$(since "$t")")
done
meta_s=$(printf '%s\n' "${meta[@]}" | sort -n | sed -n 3p)

produce() { # topic partitions -> MiB/s
	"$BIN" bench produce --brokers "$BROKER" --topic "$1" --partitions "$2" --acks 1 \
		--duration "$DURATION" --warmup 2s --progress 0 --json 2>/dev/null |
		python3 -c 'import json,sys; print(round(json.load(sys.stdin)["mb_per_s"], 1))'
}
wide=$(produce wide 1000)
narrow=$(produce narrow 10)
log "produce: 1000 partitions $wide MiB/s, 10 partitions $narrow MiB/s"
fds2=$(fds 1)
open_files=$(metric "$MADDR" gregor_storage_open_segment_files)
evictions=$(metric "$MADDR" gregor_storage_segment_file_evictions_total)

timed_restart TERM "$MADDR"
clean_s=$RESTART_S
timed_restart KILL "$MADDR"
kill_s=$RESTART_S
stop_broker 1 TERM

per_rss=$(((rss1 - rss0) * 1024 / total))
per_heap=$(awk -v a="$heap0" -v b="$heap1" -v n="$total" 'BEGIN { printf "%d", (b - a) / n }')
cat <<EOF
partitions                      $total ($TOPICS topics x $PARTS)
create topics                   ${create_s} s
memory per idle partition       RSS $per_rss B, Go heap in use $per_heap B
descriptors                     $fds0 empty, $fds1 with the partitions, $fds2 after producing ($open_files segment files open, $evictions evictions)
metadata (gregor topic list)    ${meta_s} s median of 5
produce acks=1, 1 KiB records   1000 partitions $wide MiB/s, 10 partitions $narrow MiB/s
start-up to ready               ${clean_s} s after a clean stop, ${kill_s} s after SIGKILL
EOF
printf '{"partitions":%d,"create_s":%s,"rss_per_partition_bytes":%d,"heap_per_partition_bytes":%d,"fds_empty":%d,"fds_idle":%d,"fds_after_produce":%d,"metadata_s":%s,"produce_1000_mibs":%s,"produce_10_mibs":%s,"startup_clean_s":%s,"startup_sigkill_s":%s}\n' \
	"$total" "$create_s" "$per_rss" "$per_heap" "$fds0" "$fds1" "$fds2" "$meta_s" "$wide" "$narrow" "$clean_s" "$kill_s"
