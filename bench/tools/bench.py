#!/usr/bin/python3
"""Measurement and reporting half of bench/run (standard library only; run with /usr/bin/python3).

    bench.py server  ...   runs every real-server point, writes the raw figures as JSON
    bench.py micro   ...   runs connpool_micro_bench, writes a summary as JSON
    bench.py report  ...   merges both into latest.json, prints the tables, draws the chart

bench/run calls these with the paths of the server, PgBouncer and binaries it set up; see its
header for the user-facing options.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time

# ---- implementations measured against the server --------------------------------------------

PHYSICAL = "pgbench (physical limit)"
UNPOOLED = "pgbench -C (unpooled)"
CONNPOOL = "libconnpool (C)"
CONNPOOL_NOPING = "libconnpool (C), pre_ping off"
CONNPOOL_PINGALL = "libconnpool (C), pre_ping every acquire"
BOUNCER = "PgBouncer txn + pgbench"
BOUNCER_C = "PgBouncer txn + pgbench -C"
RAW = "libpq threads, no pool (reference)"

# Display order (others, e.g. the bindings' rows, follow in the order they appear).
ORDER = [PHYSICAL, RAW, CONNPOOL, CONNPOOL_NOPING, CONNPOOL_PINGALL, BOUNCER, BOUNCER_C, UNPOOLED]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pool_size_for(clients: int) -> int:
    return min(clients, 8)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# ---- pgbench ----------------------------------------------------------------------------------

def run_pgbench(args, conninfo: str, clients: int, reconnect: bool, tag: str) -> dict:
    """pgbench with a SELECT 1 script; latency from its per-transaction log (-l)."""
    work = pathlib.Path(args.work)
    prefix = work / f"pgbench_{tag}"
    for old in work.glob(prefix.name + ".*"):
        old.unlink()
    threads = min(clients, args.pgbench_threads)
    cmd = [args.pgbench, "-n", "-M", args.protocol, "-f", str(work / "select1.sql"),
           "-c", str(clients), "-j", str(threads), "-T", str(args.slice_seconds),
           "-l", f"--log-prefix={prefix}"]
    if reconnect:
        cmd.append("-C")  # every transaction logged: intervals between completions are needed
    else:
        # A log line costs pgbench ~0.3 µs of a ~10 µs transaction: log a uniform sample only.
        cmd.append(f"--sampling-rate={args.log_sampling}")
    cmd.append(conninfo)
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True,
                          timeout=args.slice_seconds * 4 + 60)
    out = proc.stdout + proc.stderr
    m = re.search(r"^tps = ([0-9.]+)", out, re.M)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"pgbench failed ({proc.returncode}): {out.strip()[-600:]}")
    tps = float(m.group(1))
    # Per-transaction log: client_id transaction_no time_us script_no epoch_s epoch_us.
    # Persistent connections: latency = the logged time. With -C the logged time leaves out
    # the connect, so latency = each client's interval between completions (connect + query +
    # disconnect, what a caller of an unpooled client waits per operation).
    latencies: list[float] = []
    last_done: dict[int, int] = {}
    for path in sorted(work.glob(prefix.name + ".*")):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) < 6:
                    continue
                client, lat, done = int(parts[0]), int(parts[2]), int(parts[4]) * 1_000_000 + int(parts[5])
                if reconnect:
                    if client in last_done:
                        latencies.append(done - last_done[client])
                    last_done[client] = done
                else:
                    latencies.append(lat)
        path.unlink()
    latencies.sort()
    return {"ops_per_sec": tps, "p50_us": percentile(latencies, 0.50),
            "p99_us": percentile(latencies, 0.99), "ops": len(latencies),
            "errors": int(failed.group(1)) if failed else 0,
            "latency": "per-client interval between completions (includes connect)" if reconnect
            else f"pgbench per-transaction time ({args.log_sampling:g} sample)", "pgbench_threads": threads}


# ---- libconnpool's C driver -------------------------------------------------------------------

def run_driver(args, clients: int, extra: list[str], impl: str) -> dict:
    out = pathlib.Path(args.work) / "driver.json"
    cmd = [args.driver, "--conninfo", args.conninfo, "--seconds", str(args.slice_seconds),
           "--clients", str(clients), "--impl", impl, "--json", str(out)] + extra
    if "--raw" not in extra:
        cmd += ["--pool-size", str(pool_size_for(clients))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.slice_seconds * 4 + 90)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"connpool_pool_bench failed ({proc.returncode}): {proc.stderr.strip()[-600:]}")
    row = json.loads(out.read_text())[0]
    out.unlink()
    row.pop("impl", None)
    row.pop("clients", None)
    return row


# ---- the bindings' own benchmarks -------------------------------------------------------------

def binding_help(script: str) -> str:
    try:
        return subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def run_binding(args, script: str, clients_list: list[int], env: dict) -> list[dict]:
    """bench/{python,go}/run_bench: --conninfo --seconds --clients LIST --json OUT.

    When the script takes --pool-size it is called once per client count with
    min(clients, 8), like every other pool here; else once with the whole list."""
    help_text = binding_help(script)
    out = pathlib.Path(args.work) / "binding.json"
    calls = ([[c] for c in clients_list] if "--pool-size" in help_text else [clients_list])
    rows: list[dict] = []
    for group in calls:
        cmd = [script, "--conninfo", args.conninfo, "--seconds", str(args.seconds),
               "--clients", ",".join(str(c) for c in group), "--json", str(out)]
        if "--pool-size" in help_text:
            cmd += ["--pool-size", str(pool_size_for(group[0]))]
        if "--library" in help_text and args.library:
            cmd += ["--library", args.library]
        elif "--lib-dir" in help_text and args.library:  # the library under test, not a stale one
            cmd += ["--lib-dir", str(pathlib.Path(args.library).parent)]
        if out.exists():
            out.unlink()
        budget = args.seconds * len(group) * 8 + 600  # first run may build or install things
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, env=env)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"{script} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
        for row in json.loads(out.read_text()):
            if isinstance(row, dict) and {"impl", "clients", "ops_per_sec"} <= row.keys():
                row.setdefault("pool_size", pool_size_for(int(row["clients"]))
                               if "--pool-size" in help_text else None)
                rows.append(row)
        out.unlink()
    return rows


# ---- server: run every point ------------------------------------------------------------------

def cmd_server(args) -> int:
    """Per client count: `slices` interleaved passes over every implementation (order rotated
    each pass), each point slice_seconds long; then the bindings' benchmarks at that count.
    Each slice's ratio is taken against the physical limit measured in the same pass, seconds
    apart, so that load changes on a shared machine cancel out as much as they can."""
    clients_list = [int(c) for c in re.split(r"[ ,]+", args.clients.strip()) if c]
    # pgbench -T takes whole seconds.
    args.slice_seconds = max(1, int(round(args.seconds / args.slices)))
    args.seconds = float(args.slice_seconds * args.slices)
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "select1.sql").write_text("SELECT 1;\n")

    env = dict(os.environ)
    if args.library:
        env["CONNPOOL_LIBRARY"] = args.library
        env["LD_LIBRARY_PATH"] = str(pathlib.Path(args.library).parent) + (
            ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")

    def points_for(c: int):
        pts = [(PHYSICAL, lambda: run_pgbench(args, args.conninfo, c, False, "phys")),
               (UNPOOLED, lambda: run_pgbench(args, args.conninfo, c, True, "unpooled")),
               (CONNPOOL, lambda: run_driver(args, c, [], CONNPOOL)),
               # The same driver without the pool: each thread its own libpq connection. What
               # N threads can do; the gap to it is the pool's, the gap from it to pgbench is
               # threads versus pgbench's event loop.
               (RAW, lambda: run_driver(args, c, ["--raw"], RAW)),
               (CONNPOOL_NOPING, lambda: run_driver(args, c, ["--pre-ping", "off"], CONNPOOL_NOPING))]
        if not args.quick:
            pts.append((CONNPOOL_PINGALL, lambda: run_driver(
                args, c, ["--pre-ping", "on", "--pre-ping-threshold", "0"], CONNPOOL_PINGALL)))
        if args.bouncer:
            pts.append((BOUNCER, lambda: run_pgbench(args, args.bouncer, c, False, "bouncer")))
            pts.append((BOUNCER_C, lambda: run_pgbench(args, args.bouncer, c, True, "bouncer_c")))
        return pts

    bindings = []
    notes = list(args.note or [])
    for name, script in (("python", args.python), ("go", args.go)):
        if script and os.access(script, os.X_OK):
            bindings.append((name, script))
        else:
            notes.append(f"bench/{name}/run_bench not found or not executable: {name} comparison skipped")
            log(f"note: bench/{name}/run_bench absent: the {name} comparison is skipped")
    per_client_bindings = [(n, s) for n, s in bindings if "--pool-size" in binding_help(s)]
    once_bindings = [b for b in bindings if b not in per_client_bindings]

    total = sum(len(points_for(c)) for c in clients_list) * args.slices
    done = 0
    started = time.monotonic()
    results: list[dict] = []
    failures: list[str] = []

    def progress(label: str, clients: int, row: dict | None) -> None:
        elapsed = time.monotonic() - started
        left = (total - done) * elapsed / done if done else (total - done) * (args.slice_seconds + 0.5)
        figure = f"{row['ops_per_sec']:>10,.0f} ops/s" if row else "    FAILED"
        log(f"[{done:3}/{total} {elapsed:5.0f}s elapsed, ~{left:4.0f}s left + bindings] "
            f"{clients:3} clients  {label:<40} {figure}")

    def run_bindings(which, clients: list[int]) -> None:
        for name, script in which:
            log(f"      running bench/{name}/run_bench at {','.join(map(str, clients))} client(s), "
                f"{args.seconds:g} s per point")
            try:
                for row in run_binding(args, script, clients, env):
                    row["round"] = None  # compared with the median physical limit
                    row["source"] = f"bench/{name}/run_bench"
                    results.append(row)
                    log(f"      {int(row['clients']):3} clients  {row['impl']:<40} "
                        f"{float(row['ops_per_sec']):>10,.0f} ops/s")
            except Exception as e:  # noqa: BLE001 - report and go on with the others
                failures.append(f"bench/{name}/run_bench: {e}")
                log(f"      bench/{name}/run_bench FAILED: {str(e)[:300]}")

    for c in clients_list:
        group = points_for(c)
        for r in range(args.slices):
            k = r % len(group)  # rotate the order each pass so that drift does not favour one
            for impl, fn in group[k:] + group[:k]:
                try:
                    row = fn()
                except Exception as e:  # noqa: BLE001 - report and go on with the others
                    failures.append(f"{impl} at {c} clients: {e}")
                    row = None
                done += 1
                if row is not None:
                    row.update({"impl": impl, "clients": c, "round": r})
                    row.setdefault("pool_size", pool_size_for(c)
                                   if impl not in (PHYSICAL, UNPOOLED, RAW) else None)
                    if impl == RAW:
                        row["pool_size"] = None
                    results.append(row)
                progress(impl, c, row)
        run_bindings(per_client_bindings, [c])
    run_bindings(once_bindings, clients_list)

    doc = {"seconds_per_point": args.seconds, "slices": args.slices,
           "slice_seconds": args.slice_seconds, "clients": clients_list,
           "protocol": args.protocol, "log_sampling": args.log_sampling, "cpus": args.cpus,
           "results": results, "failures": failures, "notes": notes}
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for f in failures:
        log(f"FAILED: {f}")
    return 0


# ---- micro: run the microbenchmarks and summarise -----------------------------------------------

def cmd_micro(args) -> int:
    raw = pathlib.Path(args.work) / "micro_raw.json"
    cmd = [args.binary, f"--benchmark_out={raw}", "--benchmark_out_format=json",
           f"--benchmark_min_time={args.min_time}"]
    if args.filter:
        cmd.append(f"--benchmark_filter={args.filter}")
    env = dict(os.environ, CONNPOOL_BENCH_OVERLOAD_MS=str(args.overload_ms))
    log(f"running {' '.join(cmd)}")
    proc = subprocess.run(cmd, env=env, stdout=sys.stderr, timeout=1800)
    if proc.returncode != 0:
        log(f"connpool_micro_bench exited with {proc.returncode}")
        return proc.returncode
    data = json.loads(raw.read_text())
    summary = {"context": {k: data["context"].get(k) for k in
                           ("date", "num_cpus", "mhz_per_cpu", "load_avg", "library_build_type")},
               "benchmarks": []}
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration" or b.get("error_occurred"):
            continue
        keep = {"name": b["name"], "threads": b.get("threads", 1),
                "real_ns": round(b["real_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]], 1),
                "cpu_ns": round(b["cpu_time"] * {"ns": 1, "us": 1e3, "ms": 1e6}[b["time_unit"]], 1)}
        for k, v in b.items():
            if k in ("items_per_second",) or k.endswith(("_us", "_bytes", "_fair", "_mean", "_share",
                                                        "_per_sec", "_conn", "_cold", "_warm",
                                                        "Slot")):
                keep[k] = round(v, 3) if isinstance(v, float) else v
        summary["benchmarks"].append(keep)
    pathlib.Path(args.out).write_text(json.dumps(summary, indent=1) + "\n")
    return 0


# ---- report -----------------------------------------------------------------------------------

def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def aggregate(server: dict) -> list[dict]:
    """One row per (impl, clients): medians over slices; ratio = median of the per-slice ratios
    to the physical limit of the same pass (the bindings' rows: to its median)."""
    rows = server["results"]
    phys = {(r["round"], r["clients"]): r["ops_per_sec"] for r in rows if r["impl"] == PHYSICAL}
    phys_med = {c: median([v for (_, cl), v in phys.items() if cl == c]) for c in server["clients"]}
    keys: list[tuple[str, int]] = []
    for r in rows:
        if (r["impl"], r["clients"]) not in keys:
            keys.append((r["impl"], r["clients"]))
    out = []
    for impl, c in keys:
        mine = [r for r in rows if r["impl"] == impl and r["clients"] == c]
        ratios = []
        for r in mine:
            base = phys.get((r.get("round"), c)) or phys_med.get(c)
            if base:
                ratios.append(float(r["ops_per_sec"]) / base)
        agg = {"impl": impl, "clients": c, "slices": len(mine),
               "ops_per_sec": round(median([float(r["ops_per_sec"]) for r in mine]), 1),
               "p50_us": round(median([float(r["p50_us"]) for r in mine]), 1),
               "p99_us": round(median([float(r["p99_us"]) for r in mine]), 1),
               "vs_physical": round(median(ratios), 4) if ratios else None,
               "vs_physical_min": round(min(ratios), 4) if ratios else None,
               "vs_physical_max": round(max(ratios), 4) if ratios else None,
               "pool_size": mine[0].get("pool_size")}
        for extra in ("health_checks", "errors"):
            if extra in mine[0]:
                agg[extra] = sum(int(r.get(extra, 0)) for r in mine)
        if "connection_switches" in mine[0] and impl != RAW:
            agg["connection_switches"] = round(median([float(r["connection_switches"]) for r in mine]), 4)
        out.append(agg)
    rank = {name: i for i, name in enumerate(ORDER)}
    out.sort(key=lambda a: (a["clients"], rank.get(a["impl"], len(ORDER)),
                            keys.index((a["impl"], a["clients"]))))
    return out


def fmt_int(v) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) and v == v else "-"


def fmt_us(v) -> str:
    if not isinstance(v, (int, float)) or v != v:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def server_table(rows: list[dict]) -> list[str]:
    lines = ["| clients | implementation | pool | ops/s | p50 µs | p99 µs | × physical limit (slice range) |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    last = None
    for r in rows:
        c = str(r["clients"]) if r["clients"] != last else ""
        last = r["clients"]
        ratio = f"{r['vs_physical']:.2f}" if r.get("vs_physical") is not None else "-"
        if r.get("slices", 1) > 1 and r.get("vs_physical_min") is not None and r["impl"] != PHYSICAL:
            ratio += f" ({r['vs_physical_min']:.2f}–{r['vs_physical_max']:.2f})"
        pool = str(r["pool_size"]) if r.get("pool_size") else "-"
        lines.append(f"| {c} | {r['impl']} | {pool} | {fmt_int(r['ops_per_sec'])} | "
                     f"{fmt_us(r['p50_us'])} | {fmt_us(r['p99_us'])} | {ratio} |")
    return lines


def micro_lookup(micro: dict, name: str) -> dict | None:
    for b in micro.get("benchmarks", []):
        if b["name"] == name:
            return b
    return None


def micro_table(micro: dict) -> list[str]:
    lines = ["| microbenchmark (no I/O) | figure |", "| --- | --- |"]
    for b in micro.get("benchmarks", []):
        n = b["name"]
        if n.startswith(("BM_Cycle_", "BM_Floor_")):
            rate = b.get("items_per_second")
            figure = f"{b['cpu_ns']:.0f} ns CPU per op per thread ({b['real_ns']:.0f} ns wall)"
            if rate and b.get("threads", 1) > 1:
                figure = f"{rate / 1e6:.2f} M cycles/s total; {figure}"
            elif rate:
                figure = f"{rate / 1e6:.2f} M ops/s; {figure}"
            lines.append(f"| {n} | {figure} |")
        elif n.startswith("BM_Overload"):
            lines.append(f"| {n} | wait p50 {b.get('p50_us', 0):.0f} µs, p99 {b.get('p99_us', 0):.0f} µs, "
                         f"max {b.get('max_us', 0):.0f} µs; fair share {b.get('fair_us', 0):.0f} µs; "
                         f"p99/fair {b.get('p99_over_fair', 0):.2f}; max/mean {b.get('max_over_mean', 0):.1f}; "
                         f"min thread share {b.get('min_share', 0):.3f}; "
                         f"{b.get('ops_per_sec', 0):,.0f} cycles/s |")
        elif n.startswith("BM_Memory"):
            lines.append(f"| {n} | {b.get('bytes_per_conn_warm', 0):.0f} B per connection "
                         f"({b.get('bytes_per_conn_cold', 0):.0f} B the first time, incl. handle-table "
                         f"growth), beyond a {b.get('conn_object_bytes', 0):.0f} B connection object; "
                         f"{b.get('pool_fixed_bytes', 0) / 1024:.0f} KiB per pool |")
    return lines


def goals(rows: list[dict], micro: dict, memory: dict | None) -> list[dict]:
    def row(impl, c):
        return next((r for r in rows if r["impl"] == impl and r["clients"] == c), None)

    out = []
    for c in (1, 2, 8):
        r = row(CONNPOOL, c)
        if r and r.get("vs_physical") is not None:
            out.append({"goal": f">= 95% of the physical limit at {c} client(s)",
                        "measured": f"{r['vs_physical'] * 100:.1f}% (slices "
                                    f"{r['vs_physical_min'] * 100:.0f}–{r['vs_physical_max'] * 100:.0f}%)",
                        "met": r["vs_physical"] >= 0.95})
    for c in (1, 2, 8):
        a, b = row(CONNPOOL, c), row(RAW, c)
        if a and b and a.get("vs_physical") and b.get("vs_physical"):
            out.append({"goal": f"(diagnostic) pool vs the same threads without a pool at {c} client(s)",
                        "measured": f"{a['vs_physical'] / b['vs_physical'] * 100:.1f}% "
                                    f"(threads without pool: {b['vs_physical'] * 100:.0f}% of pgbench)",
                        "met": a["vs_physical"] / b["vs_physical"] >= 0.95})
    for c in sorted({r["clients"] for r in rows}):
        a, b = row(CONNPOOL, c), row(UNPOOLED, c)
        if a and b and b["ops_per_sec"]:
            x = a["ops_per_sec"] / b["ops_per_sec"]
            out.append({"goal": f">= 10x the unpooled baseline at {c} client(s)",
                        "measured": f"{x:.1f}x", "met": x >= 10})
    for c in sorted({r["clients"] for r in rows}):
        a, b = row(CONNPOOL, c), row(CONNPOOL_NOPING, c)
        if a and b and a.get("vs_physical") and b.get("vs_physical"):
            cost = 1 - a["vs_physical"] / b["vs_physical"]
            out.append({"goal": f"pre_ping default costs < 5% at {c} client(s)",
                        "measured": f"{cost * 100:+.1f}% (default {a['vs_physical']:.2f} vs off "
                                    f"{b['vs_physical']:.2f} of the physical limit; "
                                    f"{a.get('health_checks', 0)} pre-pings ran; negative = noise)",
                        "met": cost < 0.05})
    b = micro_lookup(micro, "BM_Cycle_CAPI/pool:4/real_time/threads:1")
    if b:
        out.append({"goal": "uncontended acquire+release < 100 ns",
                    "measured": f"{b['cpu_ns']:.0f} ns CPU ({b['real_ns']:.0f} ns wall)",
                    "met": b["cpu_ns"] < 100})
    b = micro_lookup(micro, "BM_Cycle_CAPI/pool:4/real_time/threads:8")
    if b and b.get("items_per_second"):
        out.append({"goal": "8 threads on a pool of 4: several million cycles/s",
                    "measured": f"{b['items_per_second'] / 1e6:.2f} M/s",
                    "met": b["items_per_second"] >= 2e6})
    b8 = micro_lookup(micro, "BM_Cycle_CAPI/pool:4/real_time/threads:8")
    b32 = micro_lookup(micro, "BM_Cycle_CAPI/pool:4/real_time/threads:32")
    if b8 and b32 and b8.get("items_per_second"):
        keep = b32["items_per_second"] / b8["items_per_second"]
        out.append({"goal": "no collapse from 8 to 32 threads (pool of 4)",
                    "measured": f"32 threads keep {keep * 100:.0f}% of the 8-thread rate",
                    "met": keep >= 0.5})
    b = micro_lookup(micro, "BM_Overload/pool:4/clients:32/hold_us:50/iterations:1/real_time")
    if b:
        out.append({"goal": "8:1 overload: p99 acquire wait <= 2x fair share",
                    "measured": f"p99 {b['p99_us']:.0f} µs = {b['p99_over_fair']:.2f}x fair share "
                                f"{b['fair_us']:.0f} µs (max/mean {b['max_over_mean']:.1f})",
                    "met": b["p99_over_fair"] <= 2.0})
    return out


def write_chart(rows: list[dict], clients: list[int], png: pathlib.Path, work: pathlib.Path,
                title: str) -> bool:
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        log("gnuplot not found: no chart")
        return False
    impls = []
    for r in rows:
        if r["impl"] not in impls:
            impls.append(r["impl"])
    data = work / "throughput.dat"
    with open(data, "w") as f:
        for impl in impls:
            f.write(f'"{impl}"\n')
            for r in sorted((r for r in rows if r["impl"] == impl), key=lambda r: r["clients"]):
                f.write(f"{r['clients']} {r['ops_per_sec']}\n")
            f.write("\n\n")
    styles = {PHYSICAL: "lc rgb '#000000' lw 3 dt 2 pt 7", CONNPOOL: "lc rgb '#d62728' lw 3 pt 7",
              RAW: "lc rgb '#555555' lw 1.5 dt 4 pt 1",
              CONNPOOL_NOPING: "lc rgb '#ff9896' lw 1.5 pt 6",
              CONNPOOL_PINGALL: "lc rgb '#e377c2' lw 1.5 pt 4",
              BOUNCER: "lc rgb '#1f77b4' lw 2 pt 5", BOUNCER_C: "lc rgb '#1f77b4' lw 1.5 dt 3 pt 4",
              UNPOOLED: "lc rgb '#7f7f7f' lw 2 dt 3 pt 9"}
    palette = ["#2ca02c", "#9467bd", "#8c564b", "#17becf", "#bcbd22", "#ff7f0e"]
    plots = []
    for i, impl in enumerate(impls):
        style = styles.get(impl) or f"lc rgb '{palette[i % len(palette)]}' lw 2 pt {i % 12 + 1}"
        plots.append(f"'{data}' index {i} using 1:2 with linespoints {style} title columnheader(1)")
    script = work / "throughput.gp"
    xtics = ", ".join(f'"{c}" {c}' for c in clients)
    script.write_text(f"""set terminal pngcairo size 1200,700 font "sans,11" noenhanced
set output '{png}'
set title "{title}"
set xlabel "concurrent clients (pool max_size = min(clients, 8))"
set ylabel "SELECT 1 operations per second (log scale)"
set logscale x 2
set logscale y 10
set xrange [{min(clients) / 1.3}:{max(clients) * 1.3}]
set xtics ({xtics})
set format y "%.0s%c"
set grid xtics ytics mytics lc rgb '#dddddd'
set key outside right center box
set lmargin 12
plot {", ".join(plots)}
""")
    proc = subprocess.run([gnuplot, str(script)], capture_output=True, text=True)
    if proc.returncode != 0:
        log(f"gnuplot failed: {proc.stderr.strip()}")
        return False
    return True


def cmd_report(args) -> int:
    server = json.loads(pathlib.Path(args.server).read_text()) if args.server else None
    micro = json.loads(pathlib.Path(args.micro).read_text()) if args.micro else {}
    memory = json.loads(pathlib.Path(args.memory).read_text()) if args.memory else None
    meta = dict(kv.split("=", 1) for kv in (args.meta or []))
    rows = aggregate(server) if server else []
    doc = {"generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": meta.pop("command", "bench/run"),
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                       "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
           "meta": meta}
    if server:
        doc["server"] = {k: server.get(k) for k in ("seconds_per_point", "slices", "slice_seconds",
                                                    "clients", "protocol", "log_sampling", "cpus",
                                                    "notes", "failures")}
        doc["server"]["rows"] = rows
    if memory:
        doc["memory_real_server"] = memory
    if micro:
        doc["micro"] = micro
    doc["goals"] = goals(rows, micro, memory)
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")

    if rows:
        print()
        pinned = f", everything pinned to CPU(s) {server['cpus']}" if server.get("cpus") else ""
        print(f"Real server: PostgreSQL 15 on this machine, SELECT 1 ({server['protocol']} protocol), "
              f"{server['seconds_per_point']:g} s per point as {server['slices']} interleaved slices of "
              f"{server['slice_seconds']} s (medians){pinned}")
        print("\n".join(server_table(rows)))
        for note in server.get("notes", []):
            print(f"note: {note}")
        for f in server.get("failures", []):
            print(f"FAILED: {f}")
    if memory:
        print(f"\nReal libpq connections: {memory['heap_bytes_per_connection']:,.0f} heap bytes per pooled "
              f"connection ({memory['connections']} connections), libpq's buffers included")
    if micro:
        print("\nMicrobenchmarks (connpool_micro_bench):")
        print("\n".join(micro_table(micro)))
    if doc["goals"]:
        print("\nGoals:")
        for g in doc["goals"]:
            print(f"  [{'met ' if g['met'] else 'MISS'}] {g['goal']}: {g['measured']}")
    if rows and args.chart:
        title = (f"libconnpool vs physical limit, PgBouncer, unpooled - {os.cpu_count()} cores, "
                 f"{doc['generated'][:10]}")
        if write_chart(rows, server["clients"], pathlib.Path(args.chart), pathlib.Path(args.work), title):
            print(f"\nchart: {args.chart}")
    print(f"figures: {args.out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("server")
    s.add_argument("--conninfo", required=True)
    s.add_argument("--bouncer", help="conninfo of PgBouncer in front of the same server")
    s.add_argument("--pgbench", required=True)
    s.add_argument("--driver", required=True, help="connpool_pool_bench")
    s.add_argument("--library", help="libconnpool.so for the bindings")
    s.add_argument("--python", help="bench/python/run_bench")
    s.add_argument("--go", help="bench/go/run_bench")
    s.add_argument("--seconds", type=float, default=3)
    s.add_argument("--clients", default="1,2,8,32")
    s.add_argument("--slices", type=int, default=3,
                   help="split each point into this many interleaved passes")
    s.add_argument("--log-sampling", type=float, default=0.2)
    s.add_argument("--cpus", default="", help="for the record: CPUs everything was pinned to")
    s.add_argument("--protocol", default="extended", choices=["simple", "extended"])
    s.add_argument("--pgbench-threads", type=int, default=os.cpu_count() or 2)
    s.add_argument("--quick", action="store_true")
    s.add_argument("--note", action="append")
    s.add_argument("--work", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_server)

    m = sub.add_parser("micro")
    m.add_argument("--binary", required=True)
    m.add_argument("--min-time", default="0.5")
    m.add_argument("--overload-ms", type=int, default=2000)
    m.add_argument("--filter")
    m.add_argument("--work", required=True)
    m.add_argument("--out", required=True)
    m.set_defaults(fn=cmd_micro)

    r = sub.add_parser("report")
    r.add_argument("--server")
    r.add_argument("--micro")
    r.add_argument("--memory")
    r.add_argument("--meta", action="append")
    r.add_argument("--chart")
    r.add_argument("--work", required=True)
    r.add_argument("--out", required=True)
    r.set_defaults(fn=cmd_report)

    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
