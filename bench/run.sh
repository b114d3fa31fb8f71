#!/usr/bin/env bash
# Side-by-side benchmarks: Gregor against franz-go's kfake and NATS
# JetStream, with the machine's limits (loopback TCP by iperf3, sequential
# disk writes by fio) measured in the same run. See BENCHMARKS.md.
#
# Everything listens on 127.0.0.1 only (servers on a port they pick
# themselves), every client run is bounded by `timeout`, and every process
# started here is stopped on exit. Servers run pinned to core $SERVER_CPU,
# clients to core $CLIENT_CPU.
#
# Knobs (environment):
#   REPS=5            repetitions; systems alternate within each one
#   QUICK=0           1: smoke run (short durations, trimmed matrix, small backlog)
#   DURATION=10       measured seconds of each produce / e2e run
#   WARMUP=3          warm-up seconds before each measured phase (discarded)
#   BACKLOG_MIB=1024  consume-only backlog
#   BIGLOG_GIB=20     Gregor with this much in the partition vs empty (0: skip)
#   BIGLOG_RUNS=3     end-to-end runs on the empty and on the big partition
#   SYSTEMS="gregor kfake nats"   MODES="A B"
#   WORKLOADS="produce consume e2e biglog"   (add omb for the OMB files below)
#   OMB_FILES="bench/workloads/1-topic-100-partitions-1kb-4p-4c-{200k,500k,1000k,2000k,200k-backlog}.yaml"
#   OMB_RATE_SCALE=0.05 OMB_BACKLOG_SCALE=0.001   (see bench/workloads/README.md;
#                     omb runs DURATION after WARMUP, mode A and B, on NATS
#                     through nats-bench workload)
#   SERVER_CPU=0 CLIENT_CPU=1
#   DATA_ROOT=bench/.data   data dirs and fio's file (same filesystem)
#   OUT=bench/results/<UTC timestamp>
#   UPDATE_DOC=1      rewrite the results part of BENCHMARKS.md
#   SKIP_INSTALL=0    1: do not apt-get install missing tools
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	REPS=${REPS:-1} DURATION=${DURATION:-3} WARMUP=${WARMUP:-1}
	BACKLOG_MIB=${BACKLOG_MIB:-64} BIGLOG_GIB=${BIGLOG_GIB:-1}
	IPERF_SECONDS=${IPERF_SECONDS:-2} FIO_MIB=${FIO_MIB:-64}
else
	REPS=${REPS:-5} DURATION=${DURATION:-10} WARMUP=${WARMUP:-3}
	BACKLOG_MIB=${BACKLOG_MIB:-1024} BIGLOG_GIB=${BIGLOG_GIB:-20}
	IPERF_SECONDS=${IPERF_SECONDS:-5} FIO_MIB=${FIO_MIB:-256}
fi
BIGLOG_RUNS=${BIGLOG_RUNS:-3}
OMB_RATE_SCALE=${OMB_RATE_SCALE:-0.05}
OMB_BACKLOG_SCALE=${OMB_BACKLOG_SCALE:-0.001}
if [[ -z ${OMB_FILES:-} ]]; then
	OMB_FILES=
	for f in 200k 500k 1000k 2000k 200k-backlog; do
		OMB_FILES+=" $BENCH_DIR/workloads/1-topic-100-partitions-1kb-4p-4c-$f.yaml"
	done
fi
SYSTEMS=${SYSTEMS:-gregor kfake nats}
MODES=${MODES:-A B}
WORKLOADS=${WORKLOADS:-produce consume e2e biglog}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DATA_ROOT=${DATA_ROOT:-$BENCH_DIR/.data}
OUT=${OUT:-$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)}
UPDATE_DOC=${UPDATE_DOC:-1}
SKIP_INSTALL=${SKIP_INSTALL:-0}
DRAIN=30 # seconds: clients' --drain-timeout
RECORD=1024
E2E_MIBS=10 # fixed end-to-end rate, MiB/s of record values
PY=/usr/bin/python3
BIN=$BENCH_DIR/.bin
LOGS=$OUT/logs
RUNS=$OUT/runs.jsonl
CLK_TCK=$(getconf CLK_TCK)

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
	log "run.sh: $*"
	exit 1
}

# ---- processes: everything started here is tracked and stopped on exit.
# Servers are single processes (PIDS); each client runs in a process group
# of its own (CLIENT_GROUPS: timeout, the CPU-time wrapper, the load tool),
# stopped as a whole. An id is forgotten once waited for, so a reused pid
# is never signalled.
PIDS=()
CLIENT_GROUPS=()
forget() {
	local p keep=() keepg=()
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	for p in "${CLIENT_GROUPS[@]}"; do [[ $p == "$1" ]] || keepg+=("$p"); done
	PIDS=("${keep[@]}")
	CLIENT_GROUPS=("${keepg[@]}")
}
# stop_pid PID [-]: SIGTERM, up to 30 s, then SIGKILL; with "-" PID is a
# process group.
stop_pid() {
	local pid=$1 target=$1 i
	[[ ${2:-} == - ]] && target=-$1
	if kill -0 -- "$target" 2>/dev/null; then
		kill -TERM -- "$target" 2>/dev/null || true
		for ((i = 0; i < 300; i++)); do
			kill -0 -- "$target" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL -- "$target" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
	forget "$pid"
}
# wait_client: waits for CPID; returns its status.
wait_client() {
	local rc=0
	wait "$CPID" || rc=$?
	forget "$CPID"
	return $rc
}
cleanup() {
	local pid
	for pid in "${CLIENT_GROUPS[@]}"; do stop_pid "$pid" -; done
	for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
	[[ -n ${RUN_DATA:-} ]] && rm -rf "$RUN_DATA"
	true
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# ---- setup
install_tools() {
	local pkgs=()
	command -v iperf3 >/dev/null || pkgs+=(iperf3)
	command -v fio >/dev/null || pkgs+=(fio)
	command -v taskset >/dev/null || pkgs+=(util-linux)
	command -v timeout >/dev/null || pkgs+=(coreutils)
	command -v setsid >/dev/null || pkgs+=(util-linux)
	[[ -x $PY ]] || pkgs+=(python3)
	[[ -x $PY ]] && $PY -c 'import matplotlib' 2>/dev/null || pkgs+=(python3-matplotlib)
	((${#pkgs[@]})) || return 0
	[[ $SKIP_INSTALL == 1 ]] && die "missing ${pkgs[*]} and SKIP_INSTALL=1"
	log "installing ${pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq </dev/null
	apt-get install -y -qq --no-install-recommends "${pkgs[@]}" </dev/null >/dev/null
}

build() {
	mkdir -p "$BIN"
	log "building gregor, kfake-server, nats-bench, nats-server"
	(cd "$ROOT" && go build -o "$BIN/gregor" ./cmd/gregor)
	(cd "$BENCH_DIR" && go build -o "$BIN/" ./cmd/kfake-server ./cmd/nats-bench &&
		go build -o "$BIN/nats-server" github.com/nats-io/nats-server/v2)
}

free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# ---- machine limits
measure_limits() {
	local port pid
	log "limits: iperf3 loopback ${IPERF_SECONDS}s"
	port=$(free_port)
	taskset -c "$SERVER_CPU" iperf3 -s -1 -B 127.0.0.1 -p "$port" >"$LOGS/iperf3-server.log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	sleep 0.5
	timeout -k 5 $((IPERF_SECONDS + 30)) taskset -c "$CLIENT_CPU" \
		iperf3 -c 127.0.0.1 -p "$port" -t "$IPERF_SECONDS" -J >"$OUT/iperf3.json" 2>"$LOGS/iperf3-client.err" ||
		log "iperf3 failed: $(tail -c 300 "$LOGS/iperf3-client.err")"
	stop_pid "$pid"

	local dir=$DATA_ROOT/fio.$$ name sync
	mkdir -p "$dir"
	for sync in 0 1; do
		name=buffered
		[[ $sync == 1 ]] && name=fdatasync
		log "limits: fio sequential 1 MiB writes, ${FIO_MIB} MiB, $name"
		timeout -k 5 300 taskset -c "$SERVER_CPU" fio --name="seq-$name" --directory="$dir" \
			--rw=write --bs=1M --size="${FIO_MIB}M" --ioengine=psync --fdatasync="$sync" \
			--output-format=json >"$OUT/fio-$name.json" 2>"$LOGS/fio-$name.err" ||
			log "fio $name failed: $(tail -c 300 "$LOGS/fio-$name.err")"
		rm -f "$dir"/*
	done
	rm -rf "$dir"
}

# ---- servers
# start_server SYSTEM MODE: starts it on a fresh data dir, pinned, and sets
# SPID and ADDR (host:port for Kafka clients, nats://host:port for NATS).
start_server() {
	local system=$1 mode=$2 ready log_file i
	RUN_DATA=$(mktemp -d "$DATA_ROOT/$system-$mode.XXXXXX")
	log_file=$LOGS/$RUN_ID-server.log
	case $system in
	gregor)
		local args=(serve --data-dir "$RUN_DATA/data" --listen 127.0.0.1:0 --set metrics.listen=) # no fixed metrics port: another broker on the machine may hold it
		[[ $mode == B ]] && args+=(--set log.flush.interval.messages=1)
		taskset -c "$SERVER_CPU" "$BIN/gregor" "${args[@]}" >"$log_file" 2>&1 &
		ready='msg="broker ready"'
		;;
	kfake)
		local args=(--port 0 --data-dir "$RUN_DATA/data")
		[[ $mode == B ]] && args+=(--sync)
		taskset -c "$SERVER_CPU" "$BIN/kfake-server" "${args[@]}" >"$log_file" 2>&1 &
		ready='kfake-server ready'
		;;
	nats)
		{
			echo 'listen: "127.0.0.1:-1"'
			echo 'jetstream {'
			echo "  store_dir: \"$RUN_DATA/js\""
			[[ $mode == B ]] && echo '  sync_interval: always'
			echo '}'
		} >"$RUN_DATA/nats.conf"
		taskset -c "$SERVER_CPU" "$BIN/nats-server" -c "$RUN_DATA/nats.conf" >"$log_file" 2>&1 &
		ready='Server is ready'
		;;
	esac
	SPID=$!
	PIDS+=("$SPID")
	for ((i = 0; i < 300; i++)); do
		grep -q "$ready" "$log_file" 2>/dev/null && break
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "$ready" "$log_file" 2>/dev/null || {
		log "$system did not start: $(tail -c 500 "$log_file")"
		return 1
	}
	case $system in
	gregor) ADDR=$(grep -o 'addr=[0-9.:]*' "$log_file" | head -1 | cut -d= -f2) ;;
	kfake) ADDR=$(grep -o 'addr=[0-9.:]*' "$log_file" | head -1 | cut -d= -f2) ;;
	nats) ADDR=nats://$(grep -o 'client connections on [0-9.:]*' "$log_file" | head -1 | awk '{print $4}') ;;
	esac
	[[ $ADDR == *127.0.0.1:* ]] || {
		log "$system: no loopback address in its log"
		return 1
	}
}

stop_server() {
	stop_pid "$SPID"
	rm -rf "$RUN_DATA"
	RUN_DATA=
}

cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime + stime
# machine_ticks: busy time of all cores (user nice system irq softirq steal),
# so that other work on the machine during a run can be told apart.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9; exit}' /proc/stat; }
vm_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

# ---- clients
# client_cmd SYSTEM WORKLOAD ARGS…: the command line of the load tool for
# SYSTEM, ARGS in gregor bench's flag names (--topic becomes --stream).
client_cmd() {
	local system=$1 workload=$2
	shift 2
	if [[ $system == nats ]]; then
		CMD=("$BIN/nats-bench" "$workload" --server "$ADDR" "${@/#--topic/--stream}")
	else
		CMD=("$BIN/gregor" bench "$workload" --brokers "$ADDR" "$@")
	fi
	[[ $workload == workload ]] || CMD+=(--record-size "$RECORD") # a workload file sets its size
	CMD+=(--json --progress 0 --drain-timeout "${DRAIN}s")
}

# start_client NAME LIMIT_SECONDS: runs CMD pinned, in the background, with
# its JSON in $LOGS/NAME.json, stderr in NAME.err and its CPU times (bash
# `times`, children's line) and wall-clock start and end in NAME.times;
# sets CPID.
start_client() {
	local name=$1 limit=$2
	echo "${CMD[*]}" >"$LOGS/$name.cmd"
	# setsid: a new process group led by timeout, whose pid is CPID.
	setsid timeout -k 10 "$limit" taskset -c "$CLIENT_CPU" bash -c \
		'out=$1 err=$2 tf=$3; shift 3; t0=$EPOCHREALTIME; "$@" >"$out" 2>"$err"; rc=$?
		t1=$EPOCHREALTIME; times >"$tf"; echo "wall $t0 $t1" >>"$tf"; exit $rc' \
		_ "$LOGS/$name.json" "$LOGS/$name.err" "$LOGS/$name.times" "${CMD[@]}" &
	CPID=$!
	CLIENT_GROUPS+=("$CPID")
}

# record_run KEY=VALUE…: appends the run's line to runs.jsonl.
record_run() {
	$PY "$BENCH_DIR/report.py" record "$RUNS" "$LOGS/$RUN_ID" "$@"
}

# measure SYSTEM MODE WORKLOAD META [KEY=VALUE…] -- ARGS…: one measured run
# on a fresh server; the KEY=VALUEs go into its line of runs.jsonl, ARGS
# to the load tool. For consume the backlog is produced first (not
# measured).
measure() {
	local system=$1 mode=$2 workload=$3 meta=$4 kv=()
	shift 4
	while [[ $1 != -- ]]; do
		kv+=("$1")
		shift
	done
	shift
	RUN_ID=$(printf 'r%d-%s-%s-%s' "$REP" "$system" "$mode" "$meta")
	log "rep $REP: $system mode $mode $workload $meta"
	if ! start_server "$system" "$mode"; then
		record_run rep="$REP" system="$system" mode="$mode" workload="$workload" meta="$meta" rc=-1 \
			note="server did not start" "${kv[@]}"
		[[ -n ${SPID:-} ]] && stop_server
		return 0
	fi
	local limit=$((WARMUP + DURATION + 2 * DRAIN + 60)) c0 c1 w0 w1 m0 m1 rc=0 hwm
	if [[ $workload == consume ]]; then
		local fill_args=("$@")
		client_cmd "$system" produce --topic backlog --records "$BACKLOG_RECORDS" --acks 1 "${fill_args[@]}"
		start_client "$RUN_ID-fill" $((BACKLOG_MIB + 2 * DRAIN + 120))
		wait_client || log "backlog fill failed (rc $?): $(tail -c 300 "$LOGS/$RUN_ID-fill.err")"
		client_cmd "$system" consume --topic backlog --records "$BACKLOG_RECORDS" "$@"
		c0=$(cpu_ticks "$SPID" 2>/dev/null || echo 0) w0=$EPOCHREALTIME m0=$(machine_ticks)
		start_client "$RUN_ID" $((BACKLOG_MIB + 2 * DRAIN + 120))
	elif [[ $workload == omb ]]; then
		# Topic creation and the groups' joining come before the warm-up;
		# a backlog is built and drained before the test duration.
		client_cmd "$system" workload "$@" --duration "${DURATION}s" --warmup "${WARMUP}s"
		start_client "$RUN_ID" $((limit + OMB_EXTRA))
		sleep "$WARMUP"
		c0=$(cpu_ticks "$SPID" 2>/dev/null || echo 0) w0=$EPOCHREALTIME m0=$(machine_ticks)
	else
		client_cmd "$system" "$workload" --topic "$workload" --duration "${DURATION}s" --warmup "${WARMUP}s" "$@"
		start_client "$RUN_ID" "$limit"
		sleep "$WARMUP"
		c0=$(cpu_ticks "$SPID" 2>/dev/null || echo 0) w0=$EPOCHREALTIME m0=$(machine_ticks)
	fi
	wait_client || rc=$?
	c1=$(cpu_ticks "$SPID" 2>/dev/null || echo "$c0") w1=$EPOCHREALTIME m1=$(machine_ticks)
	hwm=$(vm_hwm_kib "$SPID" 2>/dev/null || echo 0)
	kill -0 "$SPID" 2>/dev/null || log "$system exited during the run: $(tail -c 300 "$LOGS/$RUN_ID-server.log")"
	stop_server
	[[ $rc == 0 ]] || log "client failed (rc $rc): $(tail -c 300 "$LOGS/$RUN_ID.err")"
	record_run rep="$REP" system="$system" mode="$mode" workload="$workload" meta="$meta" rc="$rc" \
		server_cpu_s="$($PY -c "print(($c1 - $c0) / $CLK_TCK)")" server_wall_s="$($PY -c "print(round($w1 - $w0, 3))")" \
		machine_busy_s="$($PY -c "print(($m1 - $m0) / $CLK_TCK)")" server_peak_rss_kib="$hwm" "${kv[@]}"
}

# systems_for REP: SYSTEMS rotated by REP, so no system always goes first.
systems_for() {
	local -a s=($SYSTEMS)
	local n=${#s[@]} i out=()
	for ((i = 0; i < n; i++)); do out+=("${s[$(((i + $1 - 1) % n))]}"); done
	echo "${out[@]}"
}

# ---- the workloads
produce_matrix() { # lines: partitions acks producers
	if [[ $QUICK == 1 ]]; then
		printf '%s\n' "1 1 1" "1 all 1" "8 all 4"
	else
		local p a n
		for p in 1 8; do for a in 1 all; do for n in 1 4; do echo "$p $a $n"; done; done; done
	fi
}

has_workload() { [[ " $WORKLOADS " == *" $1 "* ]]; }

run_rep() {
	local system mode p a n rate
	local modes=$MODES
	has_workload produce || modes=
	for mode in $modes; do
		while read -r p a n; do
			for system in $(systems_for "$REP"); do
				measure "$system" "$mode" produce "produce-p$p-acks$a-n$n" \
					partitions="$p" acks="$a" producers="$n" -- \
					--partitions "$p" --acks "$a" --producers "$n"
			done
		done < <(produce_matrix)
	done
	local consume_parts="1 8"
	[[ $QUICK == 1 ]] && consume_parts=1
	has_workload consume || consume_parts=
	for p in $consume_parts; do
		for system in $(systems_for "$REP"); do
			measure "$system" A consume "consume-p$p" partitions="$p" backlog_mib="$BACKLOG_MIB" -- \
				--partitions "$p"
		done
	done
	run_omb
	local label
	has_workload e2e || return 0
	for mode in $MODES; do
		for label in fixed halfmax; do
			rate=$E2E_RATE
			[[ $label == halfmax ]] && rate=$($PY "$BENCH_DIR/report.py" half-max "$RUNS" "$REP" "$mode" "$E2E_RATE")
			for system in $(systems_for "$REP"); do
				measure "$system" "$mode" e2e "e2e-$label" \
					partitions=1 acks=all producers=1 rate="$rate" rate_label="$label" -- \
					--partitions 1 --acks all --producers 1 --rate "$rate"
			done
		done
	done
}

# The OMB workload files, scaled by flags (the files keep OMB's values):
# gregor bench workload on the Kafka-protocol systems, nats-bench workload
# on NATS.
OMB_EXTRA=0
run_omb() {
	has_workload omb || return 0
	local mode f name system extra
	for mode in $MODES; do
		for f in $OMB_FILES; do
			name=$(basename "$f" .yaml)
			extra=() OMB_EXTRA=60
			if grep -Eq '^consumerBacklogSizeGB: *[1-9]' "$f"; then
				extra=(--backlog-scale "$OMB_BACKLOG_SCALE") OMB_EXTRA=600
			fi
			for system in $(systems_for "$REP"); do
				measure "$system" "$mode" omb "omb-$name" omb_file="$name" rate_scale="$OMB_RATE_SCALE" -- \
					"$f" --rate-scale "$OMB_RATE_SCALE" "${extra[@]}"
			done
		done
	done
}

# Gregor with BIGLOG_GIB in the partition against an empty one: produce
# and end-to-end latency at the fixed rate, before and after the fill.
run_biglog() {
	((BIGLOG_GIB > 0)) && has_workload biglog || return 0
	[[ " $SYSTEMS " == *" gregor "* ]] || return 0
	REP=0
	RUN_ID=biglog
	log "big log: Gregor, ${BIGLOG_GIB} GiB in the partition against empty"
	start_server gregor A || return 0
	local phase records=$((BIGLOG_GIB * 1024 * 1024)) rc i topic
	for phase in empty full; do
		if [[ $phase == full ]]; then
			client_cmd gregor produce --topic big --partitions 1 --acks 1 --records "$records"
			start_client "biglog-fill" $((BIGLOG_GIB * 120 + 300))
			wait_client || log "big log fill failed: $(tail -c 300 "$LOGS/biglog-fill.err")"
		fi
		sync -f "$RUN_DATA" # the fill's writeback does not overlap the measurement
		for ((i = 1; i <= BIGLOG_RUNS; i++)); do
			topic=big
			[[ $phase == empty ]] && topic=empty-$i # a new, empty partition each time
			client_cmd gregor e2e --topic "$topic" --partitions 1 --acks all --rate "$E2E_RATE" \
				--duration "${DURATION}s" --warmup "${WARMUP}s"
			RUN_ID=biglog-$phase-$i
			rc=0
			start_client "$RUN_ID" $((WARMUP + DURATION + 2 * DRAIN + 60))
			wait_client || rc=$?
			record_run rep="$i" system=gregor mode=A workload=biglog meta="biglog-$phase" rc="$rc" phase="$phase" \
				log_gib="$([[ $phase == full ]] && echo "$BIGLOG_GIB" || echo 0)"
		done
	done
	stop_server
}

main() {
	cd "$ROOT"
	install_tools
	mkdir -p "$OUT" "$LOGS" "$DATA_ROOT"
	OUT=$(cd "$OUT" && pwd)
	LOGS=$OUT/logs RUNS=$OUT/runs.jsonl
	: >"$RUNS"
	build
	E2E_RATE=$((E2E_MIBS * 1024 * 1024 / RECORD))
	BACKLOG_RECORDS=$((BACKLOG_MIB * 1024 * 1024 / RECORD))
	local start=$SECONDS
	$PY "$BENCH_DIR/report.py" machine "$OUT/machine.json" "$DATA_ROOT" "$ROOT" \
		quick="$QUICK" reps="$REPS" duration_s="$DURATION" warmup_s="$WARMUP" backlog_mib="$BACKLOG_MIB" \
		biglog_gib="$BIGLOG_GIB" systems="$SYSTEMS" modes="$MODES" record_bytes="$RECORD" workloads="$WORKLOADS" \
		omb_rate_scale="$OMB_RATE_SCALE" omb_backlog_scale="$OMB_BACKLOG_SCALE" \
		e2e_fixed_rate="$E2E_RATE" server_cpu="$SERVER_CPU" client_cpu="$CLIENT_CPU"
	local load
	load=$(cut -d' ' -f1 /proc/loadavg)
	$PY -c "import sys; sys.exit(float('$load') < 0.5)" &&
		log "warning: load average $load before starting: other work on the machine will show up as noise"
	measure_limits
	if "$BIN/gregor" serve --help 2>&1 | grep -q -- '--voters'; then
		log "gregor serve --voters exists, but the 3-node acks=all run is not written yet: skipped"
	else
		log "skipped: cluster mode not implemented (gregor serve has no --voters): no 3-node acks=all run"
	fi
	for ((REP = 1; REP <= REPS; REP++)); do
		log "== repetition $REP of $REPS (order: $(systems_for "$REP"))"
		run_rep
	done
	run_biglog
	local doc=()
	[[ $UPDATE_DOC == 1 ]] && doc=(--doc "$ROOT/BENCHMARKS.md")
	$PY "$BENCH_DIR/report.py" summarize "$OUT" --elapsed $((SECONDS - start)) "${doc[@]}"
	log "done in $((SECONDS - start)) s: $OUT/summary.md"
}

main "$@"
