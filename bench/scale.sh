#!/usr/bin/env bash
# Every figure of BENCHMARKS.md's "Scale and failover" section in one run:
# the scripts below one after the other (never two at once: each needs the
# machine to itself), each one's output in $OUT/<name>.txt and its JSON
# summary line in $OUT/summary.jsonl.
#
# Knobs (environment):
#   STEPS="partitions partitions-cluster restart biglog replication sidebyside failover sessions"
#   OUT=bench/results/scale-<UTC timestamp>
# and each script's own knobs (see its header), passed through. sidebyside
# is bench/run.sh with REPS=1 WORKLOADS="produce omb" UPDATE_DOC=0 unless
# set: produce modes A and B against kfake, NATS and fio, and the OMB files.
# failover is TestClusterFastFencing (SIGKILL and SIGSTOP of a partition
# leader, times in its log); sessions is the fetch-session test and
# benchmark (bytes and CPU of an idle 1,000-partition fetch).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
STEPS=${STEPS:-partitions partitions-cluster restart biglog replication sidebyside failover sessions}
OUT=${OUT:-$BENCH_DIR/results/scale-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

{
	echo "commit $(git -C "$BENCH_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo "started $(date -u +%FT%TZ)"
	nproc
	free -m | sed -n 2p
} >"$OUT/machine.txt"
: >"$OUT/summary.jsonl"
for step in $STEPS; do
	log "step $step"
	t0=$(date +%s)
	case $step in
	sidebyside)
		REPS=${REPS:-1} WORKLOADS=${WORKLOADS:-produce omb} UPDATE_DOC=${UPDATE_DOC:-0} OUT="$OUT/sidebyside" \
			"$BENCH_DIR/run.sh" >"$OUT/$step.txt" 2>&1 || log "$step failed: see $OUT/$step.txt"
		;;
	failover)
		(cd "$ROOT" && go test -count=1 -run TestClusterFastFencing -v ./test/cluster) >"$OUT/$step.txt" 2>&1 ||
			log "$step failed: see $OUT/$step.txt"
		;;
	sessions)
		(cd "$ROOT" && go test -count=1 -run TestHandlersFetchSessionsFranzGo -v ./internal/handlers &&
			go test -count=1 -run '^$' -bench BenchmarkHandlersFetchSession ./internal/handlers) >"$OUT/$step.txt" 2>&1 ||
			log "$step failed: see $OUT/$step.txt"
		;;
	restart) GIB=${GIB:-10} "$BENCH_DIR/restart.sh" >"$OUT/$step.txt" 2>&1 || log "$step failed: see $OUT/$step.txt" ;;
	*) "$BENCH_DIR/$step.sh" >"$OUT/$step.txt" 2>&1 || log "$step failed: see $OUT/$step.txt" ;;
	esac
	if last=$(grep '^{' "$OUT/$step.txt" | tail -1) && [[ -n $last ]]; then
		printf '{"step":"%s","seconds":%d,"summary":%s}\n' "$step" $(($(date +%s) - t0)) "$last" >>"$OUT/summary.jsonl"
	fi
	log "step $step done in $(($(date +%s) - t0)) s"
done
echo "finished $(date -u +%FT%TZ)" >>"$OUT/machine.txt"
log "results in $OUT"
