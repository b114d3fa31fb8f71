#!/usr/bin/env bash
# The cost of replication: on one three-node cluster, a topic of
# replication factor 1 against one of replication factor 3
# (min.insync.replicas=2), both produced to with acks=all. Each run, in
# alternating order: a closed-loop produce of RECORDS records of RECORD bytes
# into a new topic of each kind, with the CPU time (utime + stime, from
# /proc/PID/stat) of the partition's leader and of the two other nodes per
# GB (10^9 value bytes); then an end-to-end run at E2E_RATE records/s into
# another new topic of each kind (ack and end-to-end p99). The leader of
# each partition is read from the metadata (gregor topic describe) before
# and after its run. Each run also reports the nodes' share of CPU in the
# kernel, the client's CPU (bash times) and the other work on the machine
# (busy time in /proc/stat minus both): runs above 0.25 cores of it are
# listed as noise. See BENCHMARKS.md ("Scale and failover").
#
# Knobs (environment):
#   RUNS=3                   repetitions (RF 1 and RF 3 alternate which goes first)
#   RECORDS=1048576 RECORD=1024   produce: records per run (1 GiB) and value bytes
#   E2E_RATE=10240           end-to-end records/s (10 MiB/s of 1 KiB records)
#   E2E_DURATION=20 E2E_WARMUP=3  end-to-end measured and warm-up seconds
#   MIN_ISR=2                min.insync.replicas of the RF 3 topics
#   IDLE=5                   seconds of the idle cluster measured first
#   PAGECACHE_MIB=1024       the machine's cost of writing to new page cache:
#                            CPU-s per GB of dd writing this much to a new
#                            file, before the runs and after (0: skip). In a
#                            VM whose freed memory goes back to the host
#                            (virtio-balloon free page reporting) every new
#                            page faults on the host, and this dominates the
#                            nodes' CPU: RF 3 writes three times the bytes
#   DATA=bench/.data/replication  data directories and logs (emptied first, removed after)
#   BASE_PORT=19400          node i listens on BASE_PORT+i (Kafka),
#                            BASE_PORT+10+i (controller), BASE_PORT+20+i (metrics)
#   GREGOR=                  a gregor binary to measure instead of building this tree
#   PERF_OUT= PERF_HZ=499    a directory: perf record (call graphs, PERF_HZ) of
#                            each node during every RF=3 produce, into
#                            PERF_OUT/run<R>-node<I>-<leader|follower>.data
#                            (sampling inflates the CPU figures of those runs)
# Prints one line per run and topic, a summary, and a JSON summary last.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-1048576}
RECORD=${RECORD:-1024}
E2E_RATE=${E2E_RATE:-10240}
E2E_DURATION=${E2E_DURATION:-20}
E2E_WARMUP=${E2E_WARMUP:-3}
MIN_ISR=${MIN_ISR:-2}
IDLE=${IDLE:-5}
PAGECACHE_MIB=${PAGECACHE_MIB:-1024}
DATA=${DATA:-$BENCH_DIR/.data/replication}
BASE_PORT=${BASE_PORT:-19400}
BIN=${GREGOR:-$BENCH_DIR/.bin/gregor}
PY=/usr/bin/python3
DRAIN=30 # seconds: the clients' --drain-timeout
CLK_TCK=$(getconf CLK_TCK)

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
[[ -n ${GREGOR:-} ]] || build_gregor
rm -rf "$DATA"
mkdir -p "$DATA/out"
RUNS_FILE=$DATA/out/runs.jsonl
: >"$RUNS_FILE"

BROKERS=$(brokers)
# A client or perf still running at exit (interrupted) is stopped with the
# brokers.
CLIENT=
PERFS=()
cleanup() {
	[[ -n $CLIENT ]] && kill -TERM "$CLIENT" 2>/dev/null && wait "$CLIENT" 2>/dev/null
	stop_perf
	stop_all
	rm -rf "$DATA"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ticks: each node's CPU clock ticks so far, "t1 t2 t3"; sys_ticks: the
# system (kernel) part of them.
ticks() {
	local i out=()
	for i in 1 2 3; do out+=("$(cpu_ticks "$i")"); done
	echo "${out[*]}"
}
sys_ticks() {
	local i out=()
	for i in 1 2 3; do out+=("$(sed 's/^.*) //' "/proc/${PID[$i]}/stat" | awk '{ print $13 }')"); done
	echo "${out[*]}"
}
# children_s FILE: CPU seconds of this shell's waited-for children in FILE,
# written by bash's times in this shell (a subshell would count only its
# own).
children_s() {
	awk 'NR == 2 { s = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } print s }' "$1"
}
# machine_ticks: busy ticks of all cores, to tell how much else ran.
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# start_perf RUN LEADER: perf record on every node (PERF_OUT set).
start_perf() {
	local i role
	[[ -n ${PERF_OUT:-} ]] || return 0
	mkdir -p "$PERF_OUT"
	for i in 1 2 3; do
		role=follower
		[[ $i == "$2" ]] && role=leader
		perf record -F "${PERF_HZ:-499}" -g -p "${PID[$i]}" -o "$PERF_OUT/run$1-node$i-$role.data" >/dev/null 2>&1 &
		PERFS+=($!)
	done
}
stop_perf() {
	local p
	for p in "${PERFS[@]}"; do
		kill -INT "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	PERFS=()
}

# create_topic NAME RF: creates a one-partition topic and waits (at most
# 30 s) until its ISR holds all RF replicas; prints its leader.
create_topic() {
	local name=$1 rf=$2 cfg=() desc
	((rf > 1)) && cfg=(--config "min.insync.replicas=$MIN_ISR")
	"$BIN" -b "$BROKERS" topic create "$name" --partitions 1 --replication-factor "$rf" "${cfg[@]}" >/dev/null
	for _ in $(seq 1 300); do
		desc=$(leader_of "$name")
		if [[ ${desc#* } == "$rf" ]]; then
			echo "${desc% *}"
			return 0
		fi
		sleep 0.1
	done
	log "topic $name: ISR not complete within 30 s ($desc)"
	return 1
}
# leader_of NAME: "LEADER:EPOCH ISR_SIZE" of partition 0.
leader_of() {
	"$BIN" -b "$BROKERS" --format json topic describe "$1" 2>/dev/null |
		jq -r '.[0].partitions[0] | "\(.leader):\(.leader_epoch) \(.isr | length)"'
}

# client NAME ARGS...: gregor bench ARGS, bounded, JSON to out/NAME.json.
client() {
	local name=$1 limit=$2 rc=0
	shift 2
	timeout -k 10 "$limit" "$BIN" bench "$@" --brokers "$BROKERS" --record-size "$RECORD" --acks all \
		--json --progress 0 --drain-timeout "${DRAIN}s" >"$DATA/out/$name.json" 2>"$DATA/out/$name.err" &
	CLIENT=$!
	wait "$CLIENT" || rc=$?
	CLIENT=
	if [[ $rc != 0 ]]; then
		log "$name failed (rc $rc): $(tail -c 300 "$DATA/out/$name.err")"
		return 1
	fi
}

# measure RUN RF KIND: one run into a new topic; appends its line to runs.jsonl.
measure() {
	local run=$1 rf=$2 kind=$3 topic leader after t0 t1 s0 s1 c0 c1 m0 m1 w0 w1 limit args
	topic=$kind-rf$rf-$run
	leader=$(create_topic "$topic" "$rf")
	if [[ $kind == produce ]]; then
		args=(produce --records "$RECORDS")
		limit=$((RECORDS * RECORD / 1000000 + 2 * DRAIN + 120)) # a floor of 1 MB/s
	else
		args=(e2e --rate "$E2E_RATE" --duration "${E2E_DURATION}s" --warmup "${E2E_WARMUP}s")
		limit=$((E2E_WARMUP + E2E_DURATION + 2 * DRAIN + 60))
	fi
	# The previous runs' data is written back first, so that its
	# write-back does not overlap this run (fsync of this run's files only:
	# the file system is shared).
	find "$DATA" -name '*.log' -path '*-rf*' -exec timeout 120 sync {} + || true
	[[ $kind$rf == produce3 ]] && start_perf "$run" "${leader%:*}"
	t0=$(ticks) s0=$(sys_ticks) m0=$(machine_ticks) w0=$(now)
	times >"$DATA/out/times0"
	client "$kind-rf$rf-$run" "$limit" "${args[@]}" --topic "$topic" || return 1
	times >"$DATA/out/times1"
	t1=$(ticks) s1=$(sys_ticks) m1=$(machine_ticks) w1=$(now)
	c0=$(children_s "$DATA/out/times0") c1=$(children_s "$DATA/out/times1")
	stop_perf
	after=$(leader_of "$topic")
	[[ ${after% *} == "$leader" ]] || log "warning: $topic: leader:epoch $leader before, $after after the run"
	jq -c --argjson run "$run" --argjson rf "$rf" --arg kind "$kind" --arg leader "${leader%:*}" \
		--arg t0 "$t0" --arg t1 "$t1" --arg s0 "$s0" --arg s1 "$s1" --argjson m "$((m1 - m0))" \
		--argjson w "$($PY -c "print($w1 - $w0)")" --argjson c "$($PY -c "print(round($c1 - $c0, 3))")" \
		--argjson tck "$CLK_TCK" 'def d(a; b): [a, b] | map(split(" ") | map(tonumber)) | transpose | map((.[1] - .[0]) / $tck);
		{run: $run, rf: $rf, kind: $kind, leader: ($leader | tonumber),
			cpu_s: d($t0; $t1), sys_s: d($s0; $s1), client_cpu_s: $c,
			machine_busy_s: ($m / $tck), wall_s: $w,
			bytes, mb_per_s, errors, ack_us: .latency_us, e2e_us: .e2e_latency_us}' \
		"$DATA/out/$kind-rf$rf-$run.json" >>"$RUNS_FILE"
	tail -n 1 "$RUNS_FILE" | jq -r '"run \(.run) \(.kind) RF=\(.rf): leader node \(.leader), CPU s " +
		(.cpu_s | map(tostring) | join(" / ")) + " (nodes 1 / 2 / 3), \(.mb_per_s * 100 | round / 100) MiB/s, ack p99 \(.ack_us.p99) µs" +
		(if .e2e_us then ", e2e p99 \(.e2e_us.p99) µs" else "" end) + ", \(.errors) errors; " +
		"nodes \((.sys_s | add) / (.cpu_s | add) * 100 | round)% in the kernel, client \(.client_cpu_s) s, other work " +
		"\([0, (.machine_busy_s - (.cpu_s | add) - .client_cpu_s) / .wall_s] | max * 100 | round / 100) cores"' >&2
}

# pagecache_cost: CPU-s per GB (10^9 bytes) of writing PAGECACHE_MIB to a
# new file (dd's user + sys time), or 0 when skipped.
pagecache_cost() {
	local t0 t1
	((PAGECACHE_MIB > 0)) || {
		echo 0
		return
	}
	times >"$DATA/out/times0"
	timeout 120 dd if=/dev/zero of="$DATA/pagecache" bs=1M count="$PAGECACHE_MIB" status=none
	times >"$DATA/out/times1"
	rm -f "$DATA/pagecache"
	t0=$(children_s "$DATA/out/times0") t1=$(children_s "$DATA/out/times1")
	$PY -c "print(round(($t1 - $t0) / ($PAGECACHE_MIB * 1048576 / 1e9), 3))"
}

load=$(cut -d' ' -f1 /proc/loadavg)
log "load average $load before starting (2 cores: other work shows up as noise)"
# Before the nodes start, so that the memory dd freed is not what the
# first run writes into.
PAGECACHE_BEFORE=$(pagecache_cost)
log "writing to new page cache: $PAGECACHE_BEFORE CPU-s/GB (dd)"
for i in 1 2 3; do start_node $i; done
for i in 1 2 3; do wait_ready "$(metrics $i)"; done
sleep 1
t0=$(ticks)
sleep "$IDLE"
t1=$(ticks)
IDLE_CORES=$($PY -c "a, b = '$t0'.split(), '$t1'.split(); print(round(sum(int(y) - int(x) for x, y in zip(a, b)) / $CLK_TCK / $IDLE, 4))")
log "idle cluster: $IDLE_CORES cores for the three nodes"

for run in $(seq 1 "$RUNS"); do
	order="1 3"
	((run % 2 == 0)) && order="3 1"
	for kind in produce e2e; do
		for rf in $order; do
			measure "$run" "$rf" "$kind"
		done
	done
done

PAGECACHE_AFTER=$(pagecache_cost)
log "writing to new page cache: $PAGECACHE_AFTER CPU-s/GB (dd)"

"$PY" - "$RUNS_FILE" "$IDLE_CORES" "$PAGECACHE_BEFORE" "$PAGECACHE_AFTER" <<'EOF'
import json, statistics, sys

runs = [json.loads(l) for l in open(sys.argv[1])]
idle_cores = float(sys.argv[2])
pagecache = [float(sys.argv[3]), float(sys.argv[4])]
med = statistics.median

def cost(r):
    """CPU-s per GB of the leader, the two other nodes, and all three."""
    gb = r["bytes"] / 1e9
    lead = r["cpu_s"][r["leader"] - 1]
    total = sum(r["cpu_s"])
    return lead / gb, (total - lead) / gb, total / gb

def other(r):
    """Cores used by neither the nodes nor the client during the run."""
    return max(0.0, r["machine_busy_s"] - sum(r["cpu_s"]) - r["client_cpu_s"]) / r["wall_s"]

def get(kind, rf):
    return sorted((r for r in runs if r["kind"] == kind and r["rf"] == rf), key=lambda r: r["run"])

fig = {}  # name -> {rf: [per-run values]}
for rf in (1, 3):
    p = get("produce", rf)
    e = get("e2e", rf)
    c = [cost(r) for r in p]
    fig.setdefault("leader_cpu_s_per_gb", {})[rf] = [x[0] for x in c]
    fig.setdefault("followers_cpu_s_per_gb", {})[rf] = [x[1] for x in c]
    fig.setdefault("total_cpu_s_per_gb", {})[rf] = [x[2] for x in c]
    fig.setdefault("produce_mib_per_s", {})[rf] = [r["mb_per_s"] for r in p]
    fig.setdefault("produce_ack_p99_ms", {})[rf] = [r["ack_us"]["p99"] / 1000 for r in p]
    fig.setdefault("e2e_ack_p99_ms", {})[rf] = [r["ack_us"]["p99"] / 1000 for r in e]
    fig.setdefault("e2e_p99_ms", {})[rf] = [r["e2e_us"]["p99"] / 1000 for r in e]
    fig.setdefault("e2e_p50_ms", {})[rf] = [r["e2e_us"]["p50"] / 1000 for r in e]
    fig.setdefault("e2e_cores", {})[rf] = [sum(r["cpu_s"]) / r["wall_s"] for r in e]
    fig.setdefault("produce_kernel_share", {})[rf] = [sum(r["sys_s"]) / sum(r["cpu_s"]) for r in p]
    fig.setdefault("other_cores", {})[rf] = [other(r) for r in p + e]

labels = {
    "leader_cpu_s_per_gb": "CPU-s/GB, partition leader",
    "followers_cpu_s_per_gb": "CPU-s/GB, the two other nodes",
    "total_cpu_s_per_gb": "CPU-s/GB, all three nodes",
    "produce_mib_per_s": "produce MiB/s (closed loop)",
    "produce_ack_p99_ms": "produce ack p99 ms (closed loop)",
    "e2e_ack_p99_ms": "e2e ack p99 ms",
    "e2e_p50_ms": "e2e end-to-end p50 ms",
    "e2e_p99_ms": "e2e end-to-end p99 ms",
    "e2e_cores": "e2e: cores used by the three nodes",
    "produce_kernel_share": "produce: nodes' CPU in the kernel",
    "other_cores": "other work on the machine, cores",
}
no_ratio = {"other_cores"}
def g(x):
    return f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
summary = {"runs": len(get("produce", 1)), "idle_cluster_cores": idle_cores, "pagecache_write_cpu_s_per_gb": pagecache}
print(f"{'figure (median over runs)':40} {'RF=1':>9} {'RF=3':>9}  RF3/RF1 median (min-max)")
for name, v in fig.items():
    a, b = med(v[1]), med(v[3])
    ratios = [y / x for x, y in zip(v[1], v[3]) if x]
    rt = f"{med(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})" if ratios and name not in no_ratio else ""
    print(f"{labels[name]:40} {g(a):>9} {g(b):>9}  {rt}")
    summary[name] = {"rf1": round(a, 4), "rf3": round(b, 4)}
    if ratios and name not in no_ratio:
        summary[name]["ratio"] = round(med(ratios), 3)
noisy = [f"run {r['run']} {r['kind']} RF={r['rf']} {other(r):.2f}" for r in runs if other(r) > 0.25]
print(f"idle cluster: {idle_cores} cores for the three nodes; RF=1's two other nodes only idle")
print(f"writing to new page cache (dd): {pagecache[0]} CPU-s/GB before the runs, {pagecache[1]} after; "
      "each GB produced is written once at RF=1, three times at RF=3")
print(f"runs with more than 0.25 cores of other work: {len(noisy)} of {len(runs)}" + (" (" + ", ".join(noisy) + ")" if noisy else ""))
summary["noisy_runs"] = len(noisy)
print(json.dumps(summary, separators=(",", ":")))
EOF
