#!/usr/bin/env bash
# Latency of the tail as the log outgrows memory, and with a lagging reader
# of cold data. One broker, one run, ratios within it (see BENCHMARKS.md,
# "Big logs and cold readers"):
#
#   size:  end-to-end at RATE rec/s (acks=all, 1 KiB) into a partition
#          holding G GiB, for each G in SIZES, against an empty partition
#          on the same broker, runs alternating;
#   cold:  with COLD_GIB in the big partition, the same end-to-end run on
#          its tail, with and without a lagging consumer reading the
#          partition from its start (its sealed segments evicted from the
#          page cache before each run with it, so its reads come from the
#          disk); the lagging reader's MiB/s against fio's sequential
#          (direct) read bandwidth of the same disk.
#
# Knobs (environment):
#   SIZES="20 60"  COLD_GIB=40   sizes, in GiB, ascending (COLD_GIB among
#                                the fill points; 0 skips the cold check)
#   RUNS=3  DURATION=20s  WARMUP=3s  RATE=10240
#   LAG_PREFIX=""                command the lagging reader runs under,
#                                e.g. "chrt --idle 0" to take its client's
#                                CPU out of the picture
#   DROP_CACHE=1                 0: leave the page cache (hot reads)
#   DATA=bench/.data/biglog      data directory (emptied first unless KEEP=1,
#                                which also leaves it for the next run)
#   PORT=19192 MPORT=19744       listeners on 127.0.0.1
#   GREGOR=                      a prebuilt gregor to measure (A/B of builds)
# Prints one line per figure and a JSON summary last; the e2e JSON of every
# run is kept in $DATA.runs/.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
SIZES=${SIZES-20 60}
COLD_GIB=${COLD_GIB:-40}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-3s}
RATE=${RATE:-10240}
LAG_PREFIX=${LAG_PREFIX:-}
DROP_CACHE=${DROP_CACHE:-1}
DATA=${DATA:-$BENCH_DIR/.data/biglog}
KEEP=${KEEP:-0}
PORT=${PORT:-19192}
MPORT=${MPORT:-19744}
BIN=${GREGOR:-$BENCH_DIR/.bin/gregor}
BROKER=127.0.0.1:$PORT
MADDR=127.0.0.1:$MPORT
RECORD=65536
OUTDIR=$DATA.runs

# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"
command -v fio >/dev/null || { apt-get install -y -q fio >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q fio; }; }
[[ -n ${GREGOR:-} ]] || build_gregor
[[ $KEEP == 1 ]] || rm -rf "$DATA"
rm -rf "$OUTDIR"
mkdir -p "$DATA" "$OUTDIR"
serve() { start_broker 1 "$DATA.log" --data-dir "$DATA" --listen "$BROKER" --metrics-listen "$MADDR"; }
trap 'stop_all; [[ $KEEP == 1 ]] || rm -rf "$DATA"' EXIT
serve
wait_ready "$MADDR"

# evict: drop the big partition's sealed segments from the page cache
# (posix_fadvise DONTNEED on each .log but the newest), so a reader from
# its start reads from the disk; the active segment, the binaries and
# everything else stay cached, as they would on a long-running broker.
evict() {
	[[ $DROP_CACHE == 1 ]] || return 0
	sync
	python3 - "$DATA/big-0" <<'PY'
import os, sys
logs = sorted(f for f in os.listdir(sys.argv[1]) if f.endswith(".log"))
for name in logs[:-1]:
    fd = os.open(os.path.join(sys.argv[1], name), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
PY
}
# e2e NAME TOPIC: one end-to-end run; its JSON goes to $OUTDIR/NAME.json.
e2e() {
	"$BIN" bench e2e --brokers "$BROKER" --topic "$2" --rate "$RATE" --duration "$DURATION" --warmup "$WARMUP" \
		--progress 0 --json >"$OUTDIR/$1.json" 2>"$OUTDIR/$1.err"
}
# p99 FILE FIELD: a latency percentile in ms from a run's JSON.
pct() { python3 -c "import json,sys; print(json.load(open('$1'))['$2']['$3'] / 1000)"; }
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
jlist() {
	local IFS=,
	echo "$*"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# The partition's current size in GiB (bytes of its directory).
filled=0
if [[ $KEEP == 1 ]]; then
	filled=$(du -sb "$DATA"/big-0 2>/dev/null | awk '{ printf "%d", $1 / 1073741824 }' || echo 0)
fi
# fill_to G: produce into "big" until it holds G GiB.
fill_to() {
	local add=$(($1 - filled))
	((add > 0)) || return 0
	local records=$((add * 1024 * 1024 * 1024 / RECORD)) t
	t=$(now)
	"$BIN" bench produce --brokers "$BROKER" --topic big --partitions 1 --acks 1 --record-size "$RECORD" \
		--records "$records" --progress 0 --json >"$OUTDIR/fill-$1.json" 2>"$OUTDIR/fill-$1.err"
	log "filled big to $1 GiB (+$add GiB in $(since "$t") s)"
	filled=$1
}

summary="{"
lines=""
# size_check G: empty against big, alternating, RUNS each.
size_check() {
	local g=$1 i e b
	local -a ea eb ba bb
	for i in $(seq 1 "$RUNS"); do
		for topic in empty big; do
			e2e "size$g-$topic-$i" "$topic"
		done
		ea+=("$(pct "$OUTDIR/size$g-empty-$i.json" latency_us p99)")
		eb+=("$(pct "$OUTDIR/size$g-empty-$i.json" e2e_latency_us p99)")
		ba+=("$(pct "$OUTDIR/size$g-big-$i.json" latency_us p99)")
		bb+=("$(pct "$OUTDIR/size$g-big-$i.json" e2e_latency_us p99)")
		log "size $g GiB run $i: e2e p99 empty ${eb[-1]} ms, big ${bb[-1]} ms"
	done
	local mea meb mba mbb
	mea=$(median "${ea[@]}") meb=$(median "${eb[@]}") mba=$(median "${ba[@]}") mbb=$(median "${bb[@]}")
	lines+="$(printf '%-34s ack p99 %s vs %s ms (x%s), end-to-end p99 %s vs %s ms (x%s)' \
		"$g GiB against empty" "$mba" "$mea" "$(ratio "$mba" "$mea")" "$mbb" "$meb" "$(ratio "$mbb" "$meb")")"$'\n'
	summary+="\"size_${g}gib\":{\"ack_p99_ms\":$mba,\"ack_p99_empty_ms\":$mea,\"e2e_p99_ms\":$mbb,\"e2e_p99_empty_ms\":$meb,\"e2e_p99_runs_ms\":[$(jlist "${bb[@]}")],\"e2e_p99_empty_runs_ms\":[$(jlist "${eb[@]}")]},"
}

# cold_check: tail alone against tail with a lagging reader from offset 0.
cold_check() {
	local i lagpid
	local -a alone with lag
	log "fio: sequential 1 MiB direct reads"
	local fdir=$DATA.fio
	mkdir -p "$fdir"
	timeout -k 5 300 fio --name=seqread --directory="$fdir" --rw=read --bs=1M --size=4G --direct=1 \
		--ioengine=psync --output-format=json >"$OUTDIR/fio-read.json" 2>"$OUTDIR/fio-read.err"
	rm -rf "$fdir"
	local fio_mib
	fio_mib=$(python3 -c "import json; print(round(json.load(open('$OUTDIR/fio-read.json'))['jobs'][0]['read']['bw_bytes'] / 2**20, 1))")
	local secs
	secs=$(awk -v d="${DURATION%s}" -v w="${WARMUP%s}" 'BEGIN { print d + w }')
	for i in $(seq 1 "$RUNS"); do
		evict
		$LAG_PREFIX "$BIN" bench consume --brokers "$BROKER" --topic big --duration "${secs}s" --progress 0 --json \
			>"$OUTDIR/cold-lag-$i.json" 2>"$OUTDIR/cold-lag-$i.err" &
		lagpid=$!
		e2e "cold-with-$i" big
		wait "$lagpid"
		with+=("$(pct "$OUTDIR/cold-with-$i.json" e2e_latency_us p99)")
		lag+=("$(python3 -c "import json; print(round(json.load(open('$OUTDIR/cold-lag-$i.json'))['mb_per_s'], 1))")")
		# The run alone comes second, with no eviction before it: in this
		# VM memory the guest frees (an eviction frees gigabytes) goes
		# back to the host, and the first run after one stalls on page
		# faults there (hundreds of ms) whatever it does.
		e2e "cold-alone-$i" big
		alone+=("$(pct "$OUTDIR/cold-alone-$i.json" e2e_latency_us p99)")
		log "cold run $i: tail e2e p99 ${alone[-1]} ms alone, ${with[-1]} ms with a lagging reader at ${lag[-1]} MiB/s"
	done
	local ma mw ml
	ma=$(median "${alone[@]}") mw=$(median "${with[@]}") ml=$(median "${lag[@]}")
	lines+="$(printf '%-34s tail end-to-end p99 %s ms alone, %s ms with it (x%s); reader %s MiB/s = %s of fio %s MiB/s' \
		"lagging reader, $COLD_GIB GiB" "$ma" "$mw" "$(ratio "$mw" "$ma")" "$ml" "$(ratio "$ml" "$fio_mib")" "$fio_mib")"$'\n'
	summary+="\"cold_${COLD_GIB}gib\":{\"e2e_p99_alone_ms\":$ma,\"e2e_p99_with_reader_ms\":$mw,\"reader_mib_s\":$ml,\"fio_read_mib_s\":$fio_mib,\"alone_runs_ms\":[$(jlist "${alone[@]}")],\"with_runs_ms\":[$(jlist "${with[@]}")],\"reader_runs_mib_s\":[$(jlist "${lag[@]}")]},"
}

cold_done=0
for g in $SIZES; do
	if ((COLD_GIB > 0 && COLD_GIB <= g && !cold_done)); then
		fill_to "$COLD_GIB"
		cold_check
		cold_done=1
	fi
	fill_to "$g"
	size_check "$g"
done
if ((COLD_GIB > 0 && !cold_done)); then
	fill_to "$COLD_GIB"
	cold_check
fi
stop_broker 1 TERM

printf '%s' "$lines"
printf '%s}\n' "${summary%,}"
