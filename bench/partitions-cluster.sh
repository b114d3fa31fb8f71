#!/usr/bin/env bash
# Many partitions on a three-node cluster (RF=3, every node holding every
# partition): CreateTopics time, memory and descriptors per node, Metadata
# time, and a node's start-up after SIGKILL. See BENCHMARKS.md ("Many
# partitions").
#
# Knobs (environment):
#   TOPICS=30 PARTS=1000     TOPICS topics of PARTS partitions each, RF=3
#   MAX_OPEN=0               log.max.open.files (0: half the open-file limit)
#   DATA=bench/.data/partitions-cluster   data directories (emptied first)
#   BASE_PORT=19300          node i listens on BASE_PORT+i (Kafka),
#                            BASE_PORT+10+i (controller), BASE_PORT+20+i (metrics)
# Prints one line per figure and a JSON summary last.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
TOPICS=${TOPICS:-30}
PARTS=${PARTS:-1000}
MAX_OPEN=${MAX_OPEN:-0}
DATA=${DATA:-$BENCH_DIR/.data/partitions-cluster}
BASE_PORT=${BASE_PORT:-19300}
BIN=$BENCH_DIR/.bin/gregor

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
build_gregor
rm -rf "$DATA"
mkdir -p "$DATA"

BROKERS=$(brokers)
NODE_ARGS=(--set "log.max.open.files=$MAX_OPEN" --set default.replication.factor=3)
trap stop_all EXIT

for i in 1 2 3; do start_node $i; done
for i in 1 2 3; do wait_ready "$(metrics $i)"; done
sleep 1
declare -A rss0
for i in 1 2 3; do rss0[$i]=$(rss_kib $i); done

t0=$(now)
for i in $(seq 1 "$TOPICS"); do
	"$BIN" -b "$BROKERS" topic create "many-$i" --partitions "$PARTS" --replication-factor 3 --timeout 600s >/dev/null
done
create_s=$(since "$t0")
total=$((TOPICS * PARTS))
log "created $total partitions (RF=3) in ${create_s}s"
# Every replica in sync: no partition under-replicated on any leader.
t=$(now)
for _ in $(seq 1 600); do
	under=0
	for i in 1 2 3; do
		n=$(metric "$(metrics $i)" kafka_server_replicamanager_underreplicatedpartitions)
		n=${n%.*}
		under=$((under + n))
	done
	[[ $under == 0 ]] && break
	sleep 1
done
insync_s=$(since "$t")
sleep 5
per=()
fdl=()
for i in 1 2 3; do
	per+=("$((($(rss_kib $i) - ${rss0[$i]}) * 1024 / total))")
	fdl+=("$(fds $i)")
done

meta=()
for _ in 1 2 3 4 5; do
	t=$(now)
	"$BIN" -b "$(kafka 1)" topic list >/dev/null
	meta+=("$(since "$t")")
done
meta_s=$(printf '%s\n' "${meta[@]}" | sort -n | sed -n 3p)

stop_broker 3 KILL
t=$(now)
start_node 3
wait_ready "$(metrics 3)"
kill_s=$(since "$t")

cat <<EOF
partitions                      $total ($TOPICS topics x $PARTS, RF=3: $total replicas on each node)
create topics                   ${create_s} s, then ${insync_s} s until none under-replicated
memory per idle replica         RSS ${per[0]} / ${per[1]} / ${per[2]} B (nodes 1 / 2 / 3)
descriptors                     ${fdl[0]} / ${fdl[1]} / ${fdl[2]}
metadata (gregor topic list)    ${meta_s} s median of 5
start-up to ready               ${kill_s} s for node 3 after SIGKILL
EOF
printf '{"partitions":%d,"create_s":%s,"insync_s":%s,"rss_per_replica_bytes":[%s],"fds":[%s],"metadata_s":%s,"startup_sigkill_s":%s}\n' \
	"$total" "$create_s" "$insync_s" "$(IFS=,; echo "${per[*]}")" "$(IFS=,; echo "${fdl[*]}")" "$meta_s" "$kill_s"
