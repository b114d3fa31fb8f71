#!/usr/bin/python3
"""Bookkeeping and reporting for bench/run.sh (Debian's python3 and
python3-matplotlib; nothing else).

  report.py machine OUT.json DATA_ROOT REPO KEY=VALUE...
      the machine, versions and run parameters
  report.py record RUNS.jsonl LOGPREFIX KEY=VALUE...
      append one run: the KEY=VALUEs, the load tool's JSON summary
      (LOGPREFIX.json, without its config), its CPU time (LOGPREFIX.times)
  report.py half-max RUNS.jsonl REP MODE DEFAULT
      half the slowest system's produce records/s with 1 partition,
      acks=all, 1 producer (the end-to-end configuration) in that
      repetition and durability mode (DEFAULT when nothing was measured)
  report.py summarize DIR [--elapsed S] [--doc BENCHMARKS.md]
      summary.json, summary.md and chart.png in DIR; with --doc, the
      part of that file between the results markers is rewritten

Ratios are Gregor/peer, computed within each repetition (the systems ran
back to back) and reported as the median with min and max over the
repetitions. Throughput is MiB/s of record values (gregor bench's unit);
CPU cost is server CPU-seconds (utime+stime) per 10^9 value bytes.
"""

import json
import os
import platform
import re
import statistics
import subprocess
import sys

SYSTEMS = ["gregor", "kfake", "nats"]
NAMES = {"gregor": "Gregor", "kfake": "kfake", "nats": "NATS JetStream"}
PEERS = ["kfake", "nats"]
NOISY = 0.5  # cores of other work during a run's measured phase that mark it
BEGIN = "<!-- results:begin (written by bench/report.py) -->"
END = "<!-- results:end -->"


def parse_kv(args):
    out = {}
    for a in args:
        k, _, v = a.partition("=")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def sh(*cmd, cwd=None):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def gomod_version(repo, module):
    try:
        with open(os.path.join(repo, "bench", "go.mod")) as f:
            for line in f:
                parts = line.split()
                if module in parts:
                    return parts[parts.index(module) + 1]
    except OSError:
        pass
    return ""


def cmd_machine(out, data_root, repo, *kv):
    cpu = ""
    for line in sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    df = sh("df", "-T", data_root).splitlines()
    fs = df[-1].split() if len(df) > 1 else []
    m = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "data_fs": {"device": fs[0], "type": fs[1]} if len(fs) > 2 else {},
        "go": sh("go", "version"),
        "gregor_commit": sh("git", "-C", repo, "rev-parse", "--short", "HEAD"),
        "gregor_dirty": bool(sh("git", "--no-optional-locks", "-C", repo, "status", "--porcelain", "--untracked-files=no")),
        "kfake": gomod_version(repo, "github.com/twmb/franz-go/pkg/kfake"),
        "franz_go": gomod_version(repo, "github.com/twmb/franz-go"),
        "nats_server": gomod_version(repo, "github.com/nats-io/nats-server/v2"),
        "nats_go": gomod_version(repo, "github.com/nats-io/nats.go"),
        "iperf3": sh("iperf3", "--version").split("\n")[0],
        "fio": sh("fio", "--version"),
        "params": parse_kv(kv),
    }
    with open(out, "w") as f:
        json.dump(m, f, indent=2)


def parse_times(path):
    """The client's CPU seconds (user+sys: the children's line of bash's
    `times`) and wall seconds (the "wall T0 T1" line run.sh adds)."""
    cpu = wall = None
    try:
        lines = open(path).read().split("\n")
        cpu = 0.0
        for t in lines[1].split():
            mm, ss = re.match(r"(\d+)m([\d.]+)s", t).groups()
            cpu += int(mm) * 60 + float(ss)
        cpu = round(cpu, 3)
        for line in lines:
            if line.startswith("wall "):
                t0, t1 = line.split()[1:3]
                wall = round(float(t1) - float(t0), 3)
    except (OSError, IndexError, AttributeError, ValueError):
        pass
    return cpu, wall


def cmd_record(runs, prefix, *kv):
    line = parse_kv(kv)
    try:
        res = json.load(open(prefix + ".json"))
        res.pop("config", None)
        res.pop("mb_unit", None)
        line["result"] = res
    except (OSError, ValueError):
        line["result"] = None
    line["client_cpu_s"], line["client_wall_s"] = parse_times(prefix + ".times")
    if line.get("rc", 0) != 0 or line["result"] is None:
        try:
            line["stderr_tail"] = open(prefix + ".err").read()[-600:]
        except OSError:
            pass
    with open(runs, "a") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")


def load_runs(path):
    runs = []
    try:
        for line in open(path):
            if line.strip():
                runs.append(json.loads(line))
    except OSError:
        pass
    return runs


def ok(run):
    """The run completed without errors: its numbers count."""
    r = run.get("result")
    return run.get("rc") == 0 and r is not None and not r.get("errors") and not r.get("stopped_early")


def cmd_half_max(runs_path, rep, mode, default):
    """Half the slowest system's produce rate in the end-to-end runs'
    configuration (1 partition, acks=all, 1 producer), so every system can
    sustain it; without such runs, half of the slowest system's best."""
    runs = [r for r in load_runs(runs_path) if r.get("workload") == "produce" and str(r.get("rep")) == rep
            and r.get("mode") == mode and ok(r)]
    same = [r for r in runs if r.get("partitions") == 1 and r.get("acks") == "all" and r.get("producers") == 1]
    best = {}
    for r in same or runs:
        best[r["system"]] = max(best.get(r["system"], 0), r["result"]["records_per_s"])
    print(int(min(best.values()) / 2) if best else int(default))


# ---------------------------------------------------------------- summary


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def metric(run):
    """The headline number: MiB/s, or end-to-end p99 in ms for e2e and
    the OMB files at a fixed rate; for an OMB backlog file, the drain's
    MiB/s."""
    r = run["result"]
    if run["workload"] == "omb" and (r.get("omb") or {}).get("backlog"):
        o = r["omb"]
        return o["backlog"]["drain_records_per_s"] * o["plan"]["workload"]["messageSize"] / 2 ** 20
    if run["workload"] in ("e2e", "omb"):
        return r["e2e_latency_us"]["p99"] / 1000
    return r["mb_per_s"]


def latency_row(r):
    """The row's metric is a latency (lower is better)."""
    return r["workload"] == "e2e" or (r["workload"] == "omb" and not r.get("omb_backlog"))


def cpu_per_gb(run):
    b = run["result"].get("bytes") or 0
    c = run.get("server_cpu_s")
    return c / (b / 1e9) if b and c is not None else None


def foreign(run):
    """Core-seconds per second that processes other than this run's server
    and client used during the measured phase (the client's CPU is spread
    evenly over its run)."""
    m, sw, sc = run.get("machine_busy_s"), run.get("server_wall_s"), run.get("server_cpu_s")
    cc, cw = run.get("client_cpu_s"), run.get("client_wall_s")
    if None in (m, sw, sc, cc, cw) or not sw or not cw:
        return None
    return max(0.0, (m - sc - cc * min(1.0, sw / cw)) / sw)


def busy(cpu, wall):
    """The share of one core a process used."""
    return cpu / wall if cpu is not None and wall else None


def summarize_rows(runs):
    """One row per workload configuration (meta, mode)."""
    keys = []
    for r in runs:
        if r["workload"] == "biglog":
            continue
        k = (r["meta"], r["mode"])
        if k not in keys:
            keys.append(k)
    rows = []
    for meta, mode in keys:
        group = [r for r in runs if r["meta"] == meta and r["mode"] == mode]
        row = {"meta": meta, "mode": mode, "workload": group[0]["workload"], "systems": {}, "ratios": {}}
        for k in ("partitions", "acks", "producers", "rate_label", "backlog_mib", "omb_file", "rate_scale"):
            if k in group[0]:
                row[k] = group[0][k]
        if row["workload"] == "omb":
            row["omb_backlog"] = any(((r.get("result") or {}).get("omb") or {}).get("backlog") for r in group)
        rates = sorted({r["rate"] for r in group if "rate" in r})
        if rates:
            row["rates"] = rates
        reps = sorted({r["rep"] for r in group})
        for s in SYSTEMS:
            sr = [r for r in group if r["system"] == s]
            if not sr:
                continue
            good = [r for r in sr if ok(r)]
            d = {"runs": len(sr), "ok": len(good), "failed": [
                {"rep": r["rep"], "rc": r.get("rc"), "errors": (r.get("result") or {}).get("errors"),
                 "stopped_early": (r.get("result") or {}).get("stopped_early"), "note": r.get("note"),
                 "stderr_tail": (r.get("stderr_tail") or "")[-200:]}
                for r in sr if not ok(r)]}
            if good:
                vals = [metric(r) for r in good]
                d.update({
                    "metric_median": med(vals), "metric_min": min(vals), "metric_max": max(vals),
                    "records_per_s": med([r["result"]["records_per_s"] for r in good]),
                    "cpu_s_per_gb": med([cpu_per_gb(r) for r in good]),
                    "peak_rss_mib": med([r.get("server_peak_rss_kib", 0) / 1024 for r in good]),
                    "foreign_max": max([foreign(r) or 0 for r in good]),
                    "server_busy": med([busy(r.get("server_cpu_s"), r.get("server_wall_s")) for r in good]),
                    "client_busy": med([busy(r.get("client_cpu_s"), r.get("client_wall_s")) for r in good]),
                    "duration_s": med([r["result"]["duration_s"] for r in good]),
                })
                lat = [r["result"].get("latency_us") for r in good if r["result"].get("latency_us")]
                if lat:
                    d["ack_p99_ms"] = med([x["p99"] / 1000 for x in lat])
                e2e = [r["result"].get("e2e_latency_us") for r in good if r["result"].get("e2e_latency_us")]
                oc = [r["result"]["omb"] for r in good if r["result"].get("omb")]
                if oc:
                    d["consume_records_per_s"] = med([x["consume_records_per_s"] for x in oc])
                if e2e:
                    d["e2e_p50_ms"] = med([x["p50"] / 1000 for x in e2e])
                    d["e2e_p99_ms"] = med([x["p99"] / 1000 for x in e2e])
                    d["e2e_p999_ms"] = med([x["p999"] / 1000 for x in e2e])
            row["systems"][s] = d
        for p in PEERS:
            ratios = []
            for rep in reps:
                g = [r for r in group if r["system"] == "gregor" and r["rep"] == rep and ok(r)]
                q = [r for r in group if r["system"] == p and r["rep"] == rep and ok(r)]
                if g and q and metric(q[0]) > 0:
                    ratios.append(metric(g[0]) / metric(q[0]))
            if ratios:
                row["ratios"][p] = {"median": med(ratios), "min": min(ratios), "max": max(ratios), "n": len(ratios)}
        rows.append(row)
    return rows


def limits(out):
    lim = {}
    try:
        j = json.load(open(os.path.join(out, "iperf3.json")))
        bps = j["end"]["sum_received"]["bits_per_second"]
        lim["loopback_mib_s"] = bps / 8 / 2**20
        lim["loopback_gbit_s"] = bps / 1e9
    except (OSError, ValueError, KeyError):
        pass
    for name in ("buffered", "fdatasync"):
        try:
            j = json.load(open(os.path.join(out, "fio-%s.json" % name)))
            w = j["jobs"][0]["write"]
            lim["fio_%s_mib_s" % name] = w["bw_bytes"] / 2**20
            if name == "fdatasync":
                sync = j["jobs"][0].get("sync", {}).get("lat_ns", {})
                if sync.get("mean"):
                    lim["fio_fdatasync_mean_ms"] = sync["mean"] / 1e6
        except (OSError, ValueError, KeyError, IndexError):
            pass
    return lim


def biglog(runs):
    """Medians over the runs of each phase (empty, full)."""
    out = {}
    for phase in ("empty", "full"):
        rs = [r for r in runs if r["workload"] == "biglog" and r.get("phase") == phase and ok(r)]
        if not rs:
            continue
        d = {"log_gib": rs[0].get("log_gib"), "runs": len(rs)}
        for name, key in (("ack", "latency_us"), ("e2e", "e2e_latency_us")):
            for q in ("p50", "p99"):
                d["%s_%s_ms" % (name, q)] = med([r["result"][key][q] / 1000 for r in rs])
        out[phase] = d
    return out


def targets(rows, lim, big):
    """Each target of issue 6 with the measured value and a verdict."""
    t = []

    def verdict(ok_, have=True):
        return "not measured" if not have else ("met" if ok_ else "not met")

    a1 = [r for r in rows if r["workload"] == "produce" and r["mode"] == "A" and str(r.get("acks")) == "1"]
    for peer, want in (("kfake", 2), ("nats", 4)):
        rs = [(r["ratios"][peer]["median"], r["meta"]) for r in a1 if peer in r["ratios"]]
        worst = min(rs) if rs else None
        t.append({"target": "produce, mode A, acks=1: >= %dx %s" % (want, NAMES[peer]),
                  "measured": "worst config %.2fx (%s); best %.2fx" % (worst[0], worst[1], max(rs)[0]) if rs else "n/a",
                  "verdict": verdict(worst and worst[0] >= want, bool(rs))})
    cpus = [(r["systems"]["gregor"].get("cpu_s_per_gb"), r["meta"]) for r in a1 if "gregor" in r["systems"]
            and r["systems"]["gregor"].get("cpu_s_per_gb") is not None]
    worst = max(cpus) if cpus else None
    t.append({"target": "produce, mode A, acks=1: Gregor server < 1 CPU-s per GB",
              "measured": "worst %.2f CPU-s/GB (%s)" % worst if worst else "n/a",
              "verdict": verdict(worst and worst[0] < 1, bool(cpus))})
    b = [(r["systems"]["gregor"].get("metric_median"), r["meta"]) for r in rows
         if r["workload"] == "produce" and r["mode"] == "B" and r["systems"].get("gregor", {}).get("metric_median")]
    fio = lim.get("fio_fdatasync_mib_s")
    best = max(b) if b else None
    t.append({"target": "produce, mode B: >= 0.5 x fio fdatasync bandwidth",
              "measured": "best %.1f MiB/s (%s) = %.2f x fio's %.1f MiB/s" % (best[0], best[1], best[0] / fio, fio)
              if best and fio else "n/a",
              "verdict": verdict(best and fio and best[0] >= 0.5 * fio, bool(best and fio))})
    c = [(r["systems"]["gregor"].get("metric_median"), r["meta"]) for r in rows
         if r["workload"] == "consume" and r["systems"].get("gregor", {}).get("metric_median")]
    lb = lim.get("loopback_mib_s")
    best = max(c) if c else None
    t.append({"target": "consume from page cache: >= 60% of loopback TCP (iperf3)",
              "measured": "best %.0f MiB/s (%s) = %.0f%% of %.0f MiB/s" % (best[0], best[1], 100 * best[0] / lb, lb)
              if best and lb else "n/a",
              "verdict": verdict(best and lb and best[0] >= 0.6 * lb, bool(best and lb))})
    e = [r for r in rows if r["workload"] == "e2e" and r["mode"] == "A" and r.get("rate_label") == "fixed"]
    g = e[0]["systems"].get("gregor", {}) if e else {}
    have = "e2e_p99_ms" in g
    t.append({"target": "end-to-end at 10 MiB/s (mode A): p99 < 2 ms, p99.9 < 10 ms",
              "measured": "p99 %.2f ms, p99.9 %.2f ms" % (g["e2e_p99_ms"], g["e2e_p999_ms"]) if have else "n/a",
              "verdict": verdict(have and g["e2e_p99_ms"] < 2 and g["e2e_p999_ms"] < 10, have)})
    have = "empty" in big and "full" in big
    if have:
        ack = big["full"]["ack_p99_ms"] / big["empty"]["ack_p99_ms"]
        e2e = big["full"]["e2e_p99_ms"] / big["empty"]["e2e_p99_ms"]
    t.append({"target": "cost flat in log size: produce and fetch latency with a big log within 10% of empty",
              "measured": "%s GiB vs empty: ack p99 %.2f/%.2f ms (x%.2f), end-to-end p99 %.2f/%.2f ms (x%.2f)" % (
                  big["full"]["log_gib"], big["full"]["ack_p99_ms"], big["empty"]["ack_p99_ms"], ack,
                  big["full"]["e2e_p99_ms"], big["empty"]["e2e_p99_ms"], e2e) if have else "n/a",
              "verdict": verdict(have and ack <= 1.1 and e2e <= 1.1, have)})
    return t


def fmt(x, digits=1):
    if x is None:
        return "n/a"
    if abs(x) >= 100:
        return "%.0f" % x
    return ("%%.%df" % digits) % x


def pct(x):
    return "n/a" if x is None else "%.0f%%" % (100 * x)


def row_label(r):
    w = r["workload"]
    if w == "produce":
        return "produce P=%s acks=%s producers=%s" % (r["partitions"], r["acks"], r["producers"])
    if w == "consume":
        return "consume %s MiB backlog, P=%s" % (r.get("backlog_mib"), r["partitions"])
    if w == "omb":
        return "OMB %s, rate x%s (%s)" % (r.get("omb_file"), r.get("rate_scale"),
                                          "drain MiB/s" if r.get("omb_backlog") else "e2e p99 ms")
    rates = ", ".join("%d" % x for x in r.get("rates", []))
    what = "10 MiB/s" if r.get("rate_label") == "fixed" else "half slowest max"
    return "e2e %s (%s rec/s)" % (what, rates)


def cell(r, s):
    d = r["systems"].get(s)
    if d is None:
        return "n/a"
    if not d.get("ok"):
        return "failed (%d/%d)" % (len(d["failed"]), d["runs"])
    v = fmt(d["metric_median"], 2 if latency_row(r) else 1)
    if (d.get("foreign_max") or 0) > NOISY:
        v += " †"
    if d["failed"]:
        v += " (%d/%d failed)" % (len(d["failed"]), d["runs"])
    return v


def ratio_cell(r, p):
    x = r["ratios"].get(p)
    if not x:
        return "n/a"
    if x["n"] == 1:
        return "%sx" % ratio(x["median"])
    return "%sx (%s-%s)" % (ratio(x["median"]), ratio(x["min"]), ratio(x["max"]))


def ratio(x):
    return "%.2f" % x if x >= 0.1 else "%.2g" % x


def markdown(summary, runs, chart):
    m, lim, rows = summary["machine"], summary["limits"], summary["rows"]
    p = m.get("params", {})
    L = []
    label = ("**Smoke run (QUICK=1, REPS=%s): short runs and a trimmed matrix to prove the pipeline; "
             "not a benchmark result.**" % p.get("reps")) if p.get("quick") == 1 else \
        "Full run: %s repetitions." % p.get("reps")
    L.append("Run `%s`, %s %s" % (summary["run"], label, "Took %d s." % summary["elapsed_s"] if summary.get("elapsed_s") else ""))
    L.append("")
    L.append("Machine: %s, %s cores, %s GiB, Linux %s, data on %s (%s). Gregor %s%s; %s; kfake %s with franz-go %s; "
             "nats-server %s, nats.go %s. Server pinned to core %s, client to core %s. "
             "Each run: %s s measured after %s s warm-up; 1 KiB records." % (
                 m.get("cpu"), m.get("cores"), m.get("mem_gib"), m.get("kernel"), m.get("data_fs", {}).get("type"),
                 m.get("data_fs", {}).get("device"), m.get("gregor_commit"), " (dirty tree)" if m.get("gregor_dirty") else "",
                 m.get("go"), m.get("kfake"), m.get("franz_go"), m.get("nats_server"), m.get("nats_go"),
                 p.get("server_cpu"), p.get("client_cpu"), p.get("duration_s"), p.get("warmup_s")))
    L.append("")
    L.append("| machine limit (same run) | measured |")
    L.append("| --- | --- |")
    L.append("| loopback TCP, iperf3 one stream | %s MiB/s (%s Gbit/s) |" % (fmt(lim.get("loopback_mib_s")), fmt(lim.get("loopback_gbit_s"), 2)))
    L.append("| sequential 1 MiB writes, buffered (fio) | %s MiB/s |" % fmt(lim.get("fio_buffered_mib_s")))
    L.append("| sequential 1 MiB writes, fdatasync after each (fio) | %s MiB/s%s |" % (
        fmt(lim.get("fio_fdatasync_mib_s")),
        ", fdatasync mean %.2f ms" % lim["fio_fdatasync_mean_ms"] if lim.get("fio_fdatasync_mean_ms") else ""))
    L.append("")
    L.append("Throughput in MiB/s of record values (median over repetitions); end-to-end rows show p99 "
             "end-to-end latency in ms (lower is better, so a ratio below 1 favours Gregor). "
             "Ratios are Gregor/peer per repetition: median (min-max). OMB rows run a workload file of "
             "bench/workloads at the rate scale shown (see its README): p99 end-to-end latency in ms, or for "
             "a backlog file the MiB/s at which the backlog drained.")
    L.append("")
    for mode, title in (("A", "Mode A: no fsync before the ack"), ("B", "Mode B: fsync before the ack")):
        mr = [r for r in rows if r["mode"] == mode]
        if not mr:
            continue
        L.append("**%s**" % title)
        L.append("")
        L.append("| workload | Gregor | kfake | NATS | Gregor/kfake | Gregor/NATS |")
        L.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for r in mr:
            L.append("| %s | %s | %s | %s | %s | %s |" % (row_label(r), cell(r, "gregor"), cell(r, "kfake"), cell(r, "nats"),
                                                     ratio_cell(r, "kfake"), ratio_cell(r, "nats")))
        L.append("")
    if any((d.get("foreign_max") or 0) > NOISY for r in rows for d in r["systems"].values()):
        L.append("† at least one run of this cell had more than %.1f cores of other work on the machine during its "
                 "measured phase (see below): treat it as noise." % NOISY)
        L.append("")
    L.append("**Cost** (medians): server CPU-seconds per GB (10^9 value bytes), server peak RSS (VmHWM), "
             "and how busy the server's and the client's cores were (server: measured phase; client: whole "
             "run, warm-up and start-up included). A client near 100% was the bottleneck, not the server.")
    L.append("")
    L.append("| workload | mode | Gregor | kfake | NATS |")
    L.append("| --- | --- | ---: | ---: | ---: |")
    for r in rows:
        cells = []
        for s in SYSTEMS:
            d = r["systems"].get(s, {})
            if not d.get("ok"):
                cells.append("n/a")
                continue
            cells.append("%s s/GB, %s MiB, srv %s, cli %s" % (
                fmt(d.get("cpu_s_per_gb"), 2), fmt(d.get("peak_rss_mib"), 0), pct(d.get("server_busy")), pct(d.get("client_busy"))))
        L.append("| %s | %s | %s |" % (row_label(r), r["mode"], " | ".join(cells)))
    L.append("")
    fails = [(r, s, f) for r in rows for s, d in r["systems"].items() for f in d["failed"]]
    if fails:
        L.append("Failed or incomplete runs (not counted):")
        L.append("")
        for r, s, f in fails:
            why = f.get("stopped_early") or f.get("note") or ("%s errors" % f["errors"] if f.get("errors") else "") \
                or (f.get("stderr_tail") or "").strip().replace("\n", " ")[-160:]
            L.append("- rep %s, %s, mode %s, %s: rc %s; %s" % (f["rep"], NAMES[s], r["mode"], row_label(r), f["rc"], why))
        L.append("")
    big = summary.get("biglog", {})
    if big:
        L.append("**Big log** (Gregor, mode A, end-to-end runs at 10 MiB/s, one partition): median latency in ms "
                 "over %s runs each, empty partition against one holding %s GiB." % (
                     big.get("empty", {}).get("runs", "?"), big.get("full", {}).get("log_gib", "?")))
        L.append("")
        L.append("| partition | ack p50 | ack p99 | end-to-end p50 | end-to-end p99 |")
        L.append("| --- | ---: | ---: | ---: | ---: |")
        for phase in ("empty", "full"):
            b = big.get(phase)
            if b:
                L.append("| %s (%s GiB) | %s | %s | %s | %s |" % (phase, b["log_gib"], fmt(b["ack_p50_ms"], 2), fmt(b["ack_p99_ms"], 2),
                                                           fmt(b["e2e_p50_ms"], 2), fmt(b["e2e_p99_ms"], 2)))
        L.append("")
    fr = sorted(((foreign(r), r) for r in runs if foreign(r) is not None), key=lambda x: -x[0])
    if fr:
        vals = [f for f, _ in fr]
        L.append("Other work on the machine during the measured phases (CPU used by processes other than the "
                 "run's server and client, in cores): median %.2f, max %.2f; %d of %d runs above 0.25. "
                 "Busiest: %s." % (med(vals), vals[0], sum(1 for v in vals if v > 0.25), len(vals),
                                   "; ".join("rep %s %s %s mode %s %.2f" % (r["rep"], NAMES[r["system"]], r["meta"], r["mode"], f)
                                             for f, r in fr[:3])))
        L.append("")
    L.append("**Targets (issue 6)**")
    L.append("")
    L.append("| target | measured | verdict |")
    L.append("| --- | --- | --- |")
    for t in summary["targets"]:
        L.append("| %s | %s | %s |" % (t["target"], t["measured"], t["verdict"]))
    L.append("")
    if chart:
        L.append("![side-by-side chart](%s)" % chart)
        L.append("")
    return "\n".join(L)


def chart(summary, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return False
    rows, lim = summary["rows"], summary["limits"]
    colors = {"gregor": "#2b6cb0", "kfake": "#dd6b20", "nats": "#38a169"}
    panels = [("produce throughput (MiB/s)", [r for r in rows if r["workload"] == "produce"], False),
              ("consume throughput (MiB/s)", [r for r in rows if r["workload"] == "consume"], False),
              ("end-to-end p99 latency (ms, log)", [r for r in rows if r["workload"] == "e2e"], True)]
    panels = [p for p in panels if p[1]]
    if not panels:
        return False
    widths = [max(len(p[1]), 2) for p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 + 0.9 * sum(widths), 5.5),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    for ax, (title, rs, logy) in zip(axes[0], panels):
        w = 0.8 / len(SYSTEMS)
        for i, s in enumerate(SYSTEMS):
            xs, ys, lo, hi = [], [], [], []
            for j, r in enumerate(rs):
                d = r["systems"].get(s, {})
                if d.get("metric_median") is None:
                    continue
                xs.append(j + (i - 1) * w)
                ys.append(d["metric_median"])
                lo.append(d["metric_median"] - d["metric_min"])
                hi.append(d["metric_max"] - d["metric_median"])
            ax.bar(xs, ys, w, yerr=[lo, hi], capsize=2, color=colors[s], label=NAMES[s])
        labels = []
        for r in rs:
            if r["workload"] == "produce":
                labels.append("%s P%s a=%s n%s" % (r["mode"], r["partitions"], r["acks"], r["producers"]))
            elif r["workload"] == "consume":
                labels.append("P%s" % r["partitions"])
            else:
                labels.append("%s %s" % (r["mode"], "10MiB/s" if r.get("rate_label") == "fixed" else "half max"))
        ax.set_xticks(range(len(rs)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        if logy:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2, 5)))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.tick_params(axis="y", which="minor", labelsize=7)
        if "consume" in title and lim.get("loopback_mib_s"):
            ax.axhline(lim["loopback_mib_s"], color="grey", ls="--", lw=1)
            ax.text(-0.4, lim["loopback_mib_s"], "loopback TCP", fontsize=7, va="bottom")
        if "produce" in title:
            for key, name in (("fio_fdatasync_mib_s", "fio fdatasync"), ("fio_buffered_mib_s", "fio buffered")):
                if lim.get(key) and lim[key] < 4 * max([r["systems"].get("gregor", {}).get("metric_max") or 0 for r in rs] + [1]):
                    ax.axhline(lim[key], color="grey", ls=":", lw=1)
                    ax.text(len(rs) - 0.6, lim[key], name, fontsize=7, va="bottom", ha="right")
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="upper left", framealpha=0.9)
    p = summary["machine"].get("params", {})
    fig.suptitle("Gregor vs kfake vs NATS JetStream, 1 KiB records, %s rep(s)%s; bars: median, whiskers: min-max" % (
        p.get("reps"), " (SMOKE RUN)" if p.get("quick") == 1 else ""), fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def cmd_summarize(out, *args):
    elapsed, doc = None, None
    args = list(args)
    while args:
        a = args.pop(0)
        if a == "--elapsed":
            elapsed = int(args.pop(0))
        elif a == "--doc":
            doc = args.pop(0)
    runs = load_runs(os.path.join(out, "runs.jsonl"))
    try:
        machine = json.load(open(os.path.join(out, "machine.json")))
    except (OSError, ValueError):
        machine = {}
    rows = summarize_rows(runs)
    lim = limits(out)
    big = biglog(runs)
    summary = {"run": os.path.basename(out.rstrip("/")), "elapsed_s": elapsed, "machine": machine, "limits": lim,
               "rows": rows, "biglog": big, "targets": targets(rows, lim, big)}
    fs = [foreign(r) for r in runs if foreign(r) is not None]
    if fs:
        summary["foreign_cores"] = {"median": med(fs), "max": max(fs)}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    have_chart = chart(summary, os.path.join(out, "chart.png"))
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(markdown(summary, runs, "chart.png" if have_chart else None) + "\n")
    if doc:
        rel = os.path.relpath(os.path.join(out, "chart.png"), os.path.dirname(os.path.abspath(doc)))
        body = markdown(summary, runs, rel if have_chart else None)
        text = open(doc).read() if os.path.exists(doc) else ""
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            tail = rest.split(END, 1)[1]
            text = head + BEGIN + "\n" + body + "\n" + END + tail
        else:
            text += "\n" + BEGIN + "\n" + body + "\n" + END + "\n"
        with open(doc, "w") as f:
            f.write(text)
    print(os.path.join(out, "summary.md"))


def main():
    cmds = {"machine": cmd_machine, "record": cmd_record, "half-max": cmd_half_max, "summarize": cmd_summarize}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
