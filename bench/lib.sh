# Shared by bench/partitions.sh, bench/partitions-cluster.sh,
# bench/replication.sh and bench/restart.sh (sourced): logging, timing, building the binary, and
# starting, waiting for and stopping brokers. Each broker is known by a
# key (a node id, or 1 for a single broker); PID[key] is its process.

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

# build_gregor puts a static gregor binary at $BIN.
build_gregor() {
	mkdir -p "$(dirname "$BIN")"
	(cd "$ROOT" && CGO_ENABLED=0 go build -o "$BIN" ./cmd/gregor)
}

declare -A PID
# start_broker KEY LOGFILE ARGS...: gregor serve ARGS in the background.
start_broker() {
	local key=$1 logfile=$2
	shift 2
	"$BIN" serve "$@" >>"$logfile" 2>&1 &
	PID[$key]=$!
}
# wait_ready METRICS_ADDR: until /readyz answers (at most 60 s).
wait_ready() {
	for _ in $(seq 1 1200); do
		if "$BIN" ready --metrics-addr "$1" --timeout 1s >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	log "broker at $1 not ready within 60 s"
	return 1
}
# stop_broker KEY [SIGNAL]: signal (TERM by default) and reap.
stop_broker() {
	[[ -n ${PID[$1]:-} ]] || return 0
	kill -"${2:-TERM}" "${PID[$1]}" 2>/dev/null || true
	wait "${PID[$1]}" 2>/dev/null || true
	PID[$1]=
}
stop_all() {
	for key in "${!PID[@]}"; do stop_broker "$key" KILL; done
}
# A three-node cluster on 127.0.0.1 (bench/partitions-cluster.sh,
# bench/replication.sh): node i listens on BASE_PORT+i (Kafka),
# BASE_PORT+10+i (controller) and BASE_PORT+20+i (metrics), keeps its data
# in $DATA/i and logs to $DATA/i.log; NODE_ARGS are more serve arguments.
kafka() { echo "127.0.0.1:$((BASE_PORT + $1))"; }
ctrl() { echo "127.0.0.1:$((BASE_PORT + 10 + $1))"; }
metrics() { echo "127.0.0.1:$((BASE_PORT + 20 + $1))"; }
brokers() { echo "$(kafka 1),$(kafka 2),$(kafka 3)"; }
# start_node I: starts node I of the cluster.
start_node() {
	start_broker "$1" "$DATA/$1.log" --node-id "$1" --data-dir "$DATA/$1" --listen "$(kafka "$1")" --advertise "$(kafka "$1")" \
		--controller-listen "$(ctrl "$1")" --voters "1@$(ctrl 1),2@$(ctrl 2),3@$(ctrl 3)" --metrics-listen "$(metrics "$1")" \
		${NODE_ARGS[@]+"${NODE_ARGS[@]}"}
}

# cpu_ticks KEY: the broker's CPU time so far (utime + stime, clock ticks).
cpu_ticks() { sed 's/^.*) //' "/proc/${PID[$1]}/stat" | awk '{ print $12 + $13 }'; }
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/${PID[$1]}/status"; }
fds() { ls "/proc/${PID[$1]}/fd" | wc -l; }
# metric ADDR NAME: a metric's value from a broker's /metrics.
metric() { curl -fsS "http://$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
# timed_restart SIGNAL ADDR: stop broker 1 with SIGNAL, start it again
# with the caller's serve function, and set RESTART_S to the seconds until
# it is ready at ADDR (not in a subshell: PID must keep the new process).
timed_restart() {
	stop_broker 1 "$1"
	local t
	t=$(now)
	serve
	wait_ready "$2"
	RESTART_S=$(since "$t")
}
