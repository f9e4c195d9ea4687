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

PREPARED = "pgbench -M prepared (ceiling)"
PHYSICAL = "pgbench -M extended"
UNPOOLED = "pgbench -C (unpooled)"
CONNPOOL = "libconnpool (C)"
CONNPOOL_32 = "libconnpool (C), 32 threads on 32 connections"
CONNPOOL_AUTO = "libconnpool (C) [modes driver], reset=auto"
CONNPOOL_ROLLBACK = "libconnpool (C) [modes driver], reset=rollback"
CONNPOOL_NOPING = "libconnpool (C), pre_ping off"
CONNPOOL_PINGALL = "libconnpool (C), pre_ping every acquire"
BOUNCER = "PgBouncer txn + pgbench"
BOUNCER_C = "PgBouncer txn + pgbench -C"
RAW = "libpq threads, own connection each (reference)"
HIKARI = "HikariCP 2.7.9"
GO = "libconnpool Go"
PGXPOOL = "pgxpool v4"
PYTHON = "libconnpool Python"
PSYCOPG2 = "psycopg2 ThreadedConnectionPool"
PSYCOPG_POOL = "psycopg_pool"
MUX = "libconnpool multiplexed (C), {} callers on 4 connections"
PIPELINE = "pgbench pipeline, 10 SELECT 1 per sync (statements/s)"
MUX_CALLERS = (32, 128)
ACQ = ", acquire+release only"
ACQ_POOL = 4  # the acquire+release-only rows: pool of 4 (issue 17's figures), 1 and 8 threads
BINDING_NAMES = {"connpool-go": GO, "pgxpool": PGXPOOL, "connpool-python": PYTHON,
                 "psycopg2": PSYCOPG2, "psycopg_pool": PSYCOPG_POOL}
TRANSPORTS = ("tcp", "unix")

# Display order (others follow in the order they appear).
ORDER = [PREPARED, PHYSICAL, RAW, CONNPOOL, CONNPOOL_32, CONNPOOL_AUTO, CONNPOOL_ROLLBACK,
         CONNPOOL_NOPING, CONNPOOL_PINGALL, HIKARI, GO, PGXPOOL, PYTHON, PSYCOPG2, PSYCOPG_POOL,
         BOUNCER, BOUNCER_C, UNPOOLED, CONNPOOL + ACQ, HIKARI + ACQ, GO + ACQ, PGXPOOL + ACQ,
         PIPELINE] + [MUX.format(n) for n in MUX_CALLERS]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pool_size_for(clients: int) -> int:
    return min(clients, 16)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


# ---- pgbench ----------------------------------------------------------------------------------

def run_pgbench(args, conninfo: str, clients: int, reconnect: bool, tag: str,
                protocol: str = "extended", script: str = "select1.sql",
                statements: int = 1) -> dict:
    """pgbench with a SELECT 1 script (or `script`, of `statements` statements: the rate is
    statements per second); latency from its per-transaction log (-l)."""
    work = pathlib.Path(args.work)
    prefix = work / f"pgbench_{tag}"
    for old in work.glob(prefix.name + ".*"):
        old.unlink()
    threads = min(clients, args.pgbench_threads)
    # -T counts the connection time too (its tps leaves it out). Over TCP, SCRAM authentication
    # of many clients on a loaded machine can take most of a short slice: one more second.
    duration = args.slice_seconds + (1 if "host=127.0.0.1" in conninfo and clients >= 8 else 0)
    cmd = [args.pgbench, "-n", "-M", protocol, "-f", str(work / script),
           "-c", str(clients), "-j", str(threads), "-T", str(duration),
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
    tps = float(m.group(1)) * statements
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

def run_driver(args, conninfo: str, clients: int, extra: list[str], impl: str,
               binary: str | None = None, pool_size: int | None = None) -> dict:
    """connpool_pool_bench (or, with binary, connpool_modes_bench: same flags and JSON)."""
    out = pathlib.Path(args.work) / "driver.json"
    cmd = [binary or args.driver, "--conninfo", conninfo, "--seconds", str(args.slice_seconds),
           "--clients", str(clients), "--impl", impl, "--json", str(out)] + extra
    if "--raw" not in extra:
        cmd += ["--pool-size", str(pool_size or pool_size_for(clients))]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.slice_seconds * 4 + 90)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{pathlib.Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-600:]}")
    row = json.loads(out.read_text())[0]
    out.unlink()
    row.pop("impl", None)
    row.pop("clients", None)
    return row


def run_mux(args, conninfo: str, callers: int) -> dict:
    """connpool_mux_bench: `callers` threads, SELECT 1 through connpool_pool_exec on 4 shared
    connections (issue 17 goal 6). Statements per second; it reports no latency."""
    cmd = [args.mux_driver, conninfo, "--callers", str(callers), "--connections", "4",
           "--seconds", str(args.slice_seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.slice_seconds * 4 + 60)
    m = re.search(r"statements=(\d+) failed=(\d+) statements_per_s=([0-9.]+)", proc.stdout)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"connpool_mux_bench failed ({proc.returncode}): "
                           f"{(proc.stdout + proc.stderr).strip()[-600:]}")
    return {"ops_per_sec": float(m.group(3)), "ops": int(m.group(1)), "errors": int(m.group(2)),
            "pool_size": 4, "latency": "not measured"}


# ---- the bindings' own benchmarks -------------------------------------------------------------

def binding_help(script: str) -> str:
    try:
        return subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def run_binding(args, script: str, conninfo: str, clients: int, env: dict, pool_size: int,
                extra: list[str] | None = None) -> list[dict]:
    """bench/{python,go}/run_bench at one client count: --conninfo --seconds --clients
    --pool-size --json OUT (--rounds for Go: its own interleaved rounds, median reported)."""
    help_text = binding_help(script)
    out = pathlib.Path(args.work) / "binding.json"
    cmd = [script, "--conninfo", conninfo, "--clients", str(clients), "--json", str(out),
           "--pool-size", str(pool_size)] + (extra or [])
    if "--rounds" in help_text:
        cmd += ["--seconds", str(args.slice_seconds), "--rounds", str(args.slices)]
    else:
        cmd += ["--seconds", str(args.seconds)]
    if "--library" in help_text and args.library:
        cmd += ["--library", args.library]
    elif "--lib-dir" in help_text and args.library:  # the library under test, not a stale one
        cmd += ["--lib-dir", str(pathlib.Path(args.library).parent)]
    if out.exists():
        out.unlink()
    budget = args.seconds * 12 + 600  # the first run may build or install things
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, env=env)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{script} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    rows = [r for r in json.loads(out.read_text())
            if isinstance(r, dict) and {"impl", "clients", "ops_per_sec"} <= r.keys()]
    out.unlink()
    for r in rows:
        r["impl"] = BINDING_NAMES.get(r["impl"], r["impl"])
        r["pool_size"] = pool_size
    return rows


# ---- HikariCP (bench/java/HikariBench.java) ----------------------------------------------------

def conninfo_fields(conninfo: str) -> dict:
    return dict(kv.split("=", 1) for kv in conninfo.split() if "=" in kv)


def jdbc_url(conninfo: str, transport: str) -> str:
    f = conninfo_fields(conninfo)
    if transport == "tcp":
        return f"jdbc:postgresql://{f.get('host', '127.0.0.1')}:{f['port']}/{f.get('dbname', 'postgres')}"
    # Unix socket: pgjdbc + junixsocket (Debian libjunixsocket-java).
    sock = f"{f['host']}/.s.PGSQL.{f['port']}"
    return (f"jdbc:postgresql://localhost/{f.get('dbname', 'postgres')}?socketFactory="
            f"org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg&socketFactoryArg={sock}")


def run_hikari(args, conninfo: str, transport: str, clients: int, impl: str, mode: str = "select",
               pool_size: int | None = None) -> dict:
    out = pathlib.Path(args.work) / "hikari.json"
    f = conninfo_fields(conninfo)
    cmd = [args.java, "-XX:+UseParallelGC", "-Djava.library.path=/usr/lib/x86_64-linux-gnu/jni",
           "-cp", args.java_cp, "HikariBench", "--url", jdbc_url(conninfo, transport),
           "--user", f.get("user", "postgres"), "--password", f.get("password", ""),
           "--clients", str(clients), "--pool-size", str(pool_size or pool_size_for(clients)),
           "--seconds", str(args.slice_seconds), "--warmup", str(args.java_warmup),
           "--mode", mode, "--impl", impl, "--json", str(out)]
    if out.exists():
        out.unlink()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=args.slice_seconds * 4 + args.java_warmup * 4 + 90)
    if proc.returncode != 0 or not out.exists():
        err = proc.stderr.strip().replace(f.get("password", "\0"), "***") if f.get("password") else proc.stderr.strip()
        raise RuntimeError(f"HikariBench failed ({proc.returncode}): {err[-600:]}")
    row = json.loads(out.read_text())[0]
    out.unlink()
    row.pop("impl", None)
    row.pop("clients", None)
    return row


# ---- server: run every point ------------------------------------------------------------------

def cmd_server(args) -> int:
    """Per transport and client count: `slices` interleaved passes over every implementation
    (order rotated each pass), each point slice_seconds long; then the bindings' benchmarks at
    that count (Go: its own interleaved rounds). Each slice's ratio is taken against pgbench
    -M prepared measured in the same pass, seconds apart, so that load changes on a shared
    machine cancel out as much as they can."""
    clients_list = [int(c) for c in re.split(r"[ ,]+", args.clients.strip()) if c]
    go_clients = list(clients_list)
    if args.go_extra_clients:
        go_clients += [int(c) for c in args.go_extra_clients.split(",") if int(c) not in go_clients]
    # pgbench -T takes whole seconds.
    args.slice_seconds = max(1, int(round(args.seconds / args.slices)))
    args.seconds = float(args.slice_seconds * args.slices)
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "select1.sql").write_text("SELECT 1;\n")
    (work / "pipeline10.sql").write_text("\\startpipeline\n" + "SELECT 1;\n" * 10 + "\\endpipeline\n")
    conninfos = {"unix": args.conninfo, "tcp": args.conninfo_tcp}
    transports = [t for t in args.transports.split(",") if conninfos.get(t)]
    notes = list(args.note or [])
    if "tcp" in args.transports and not args.conninfo_tcp:
        notes.append("no TCP conninfo given: TCP rows skipped")

    env = dict(os.environ)
    if args.library:
        env["CONNPOOL_LIBRARY"] = args.library
        env["LD_LIBRARY_PATH"] = str(pathlib.Path(args.library).parent) + (
            ":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    have_java = bool(args.java and args.java_cp)
    if not have_java:
        notes.append("HikariCP not measured (no java/classpath given)")
    if not args.modes_driver:
        notes.append("connpool_modes_bench not given: reset and acquire-only rows skipped")
    reset_note = ("reset=rollback vs reset=auto: the `reset` option is declared on main but wired "
                  "only by the h14-reset branch; until it is merged both rows do the same work")
    notes.append(reset_note)

    def points_for(t: str, c: int):
        ci = conninfos[t]
        size = pool_size_for(c)
        pts = [(PREPARED, lambda: run_pgbench(args, ci, c, False, "prep", "prepared")),
               (PHYSICAL, lambda: run_pgbench(args, ci, c, False, "ext", "extended")),
               (CONNPOOL, lambda: run_driver(args, ci, c, [], CONNPOOL)),
               # The same driver without the pool: each thread its own libpq connection. What
               # N threads can do; the gap to it is the pool's, the gap from it to pgbench is
               # threads versus pgbench's event loop.
               (RAW, lambda: run_driver(args, ci, c, ["--raw"], RAW))]
        if c > size:  # issue 17 goal 2: waiting for a connection should cost almost nothing
            pts.append((CONNPOOL_32 if c == 32 else f"libconnpool (C), {c} threads on {c} connections",
                        lambda: run_driver(args, ci, c, [], CONNPOOL, pool_size=c)))
        if args.modes_driver:
            pts.append((CONNPOOL_AUTO, lambda: run_driver(args, ci, c, [], CONNPOOL_AUTO,
                                                          binary=args.modes_driver)))
            pts.append((CONNPOOL_ROLLBACK, lambda: run_driver(
                args, ci, c, ["--option", "reset=rollback"], CONNPOOL_ROLLBACK, binary=args.modes_driver)))
        if have_java:
            pts.append((HIKARI, lambda: run_hikari(args, ci, t, c, HIKARI)))
        if t == "unix":
            pts.append((CONNPOOL_NOPING, lambda: run_driver(args, ci, c, ["--pre-ping", "off"], CONNPOOL_NOPING)))
            if not args.quick:
                pts.append((CONNPOOL_PINGALL, lambda: run_driver(
                    args, ci, c, ["--pre-ping", "on", "--pre-ping-threshold", "0"], CONNPOOL_PINGALL)))
                pts.append((UNPOOLED, lambda: run_pgbench(args, ci, c, True, "unpooled")))
            if args.bouncer:
                pts.append((BOUNCER, lambda: run_pgbench(args, args.bouncer, c, False, "bouncer")))
                pts.append((BOUNCER_C, lambda: run_pgbench(args, args.bouncer, c, True, "bouncer_c")))
        if c in (1, 8) and t == "tcp":  # acquire + release only: the pool alone
            if args.modes_driver:
                pts.append((CONNPOOL + ACQ, lambda: run_driver(
                    args, ci, c, ["--mode", "acquire"], CONNPOOL + ACQ, binary=args.modes_driver,
                    pool_size=ACQ_POOL)))
            if have_java:
                pts.append((HIKARI + ACQ, lambda: run_hikari(args, ci, t, c, HIKARI + ACQ, "acquire", ACQ_POOL)))
        if c == 32 and t == "tcp":  # goal 6: multiplexing, and pgbench's pipeline ceiling
            pts.append((PIPELINE, lambda: run_pgbench(args, ci, c, False, "pipeline", "extended",
                                                      "pipeline10.sql", 10)))
            if args.mux_driver:
                for n in MUX_CALLERS:
                    pts.append((MUX.format(n), lambda n=n: run_mux(args, ci, n)))
        return pts

    bindings = []
    for name, script in (("python", args.python), ("go", args.go)):
        if script and os.access(script, os.X_OK):
            bindings.append((name, script))
        else:
            notes.append(f"bench/{name}/run_bench not found or not executable: {name} comparison skipped")
            log(f"note: bench/{name}/run_bench absent: the {name} comparison is skipped")

    total = sum(len(points_for(t, c)) for t in transports for c in clients_list) * args.slices
    done = 0
    started = time.monotonic()
    results: list[dict] = []
    failures: list[str] = []

    def progress(label: str, t: str, clients: int, row: dict | None) -> None:
        elapsed = time.monotonic() - started
        left = (total - done) * elapsed / done if done else (total - done) * (args.slice_seconds + 0.5)
        figure = f"{row['ops_per_sec']:>10,.0f} ops/s" if row else "    FAILED"
        log(f"[{done:3}/{total} {elapsed:5.0f}s elapsed, ~{left:4.0f}s left + bindings] {t:4} "
            f"{clients:3} clients  {label:<48} {figure}")

    def run_bindings(t: str, c: int) -> None:
        for name, script in bindings:
            if c not in (go_clients if name == "go" else clients_list):
                continue
            modes = [([], "")]
            if name == "go" and c in (1, 8) and t == "tcp":
                modes.append((["--mode", "acquire"], ACQ))
            for extra, suffix in modes:
                size = ACQ_POOL if suffix else pool_size_for(c)
                log(f"      {t:4} {c:3} clients  bench/{name}/run_bench{' ' + ' '.join(extra) if extra else ''}, "
                    f"pool {size} ...")
                try:
                    for row in run_binding(args, script, conninfos[t], c, env, size, extra):
                        row.update({"round": None, "transport": t, "impl": row["impl"] + suffix,
                                    "source": f"bench/{name}/run_bench"})
                        results.append(row)
                        log(f"      {t:4} {int(row['clients']):3} clients  {row['impl']:<48} "
                            f"{float(row['ops_per_sec']):>10,.0f} ops/s")
                except Exception as e:  # noqa: BLE001 - report and go on with the others
                    failures.append(f"bench/{name}/run_bench ({t}, {c} clients): {e}")
                    log(f"      bench/{name}/run_bench FAILED: {str(e)[:300]}")

    for c in sorted(set(clients_list) | set(go_clients)):
        for t in transports:
            group = points_for(t, c) if c in clients_list else []
            for r in range(args.slices if group else 0):
                k = r % len(group)  # rotate the order each pass so that drift does not favour one
                for impl, fn in group[k:] + group[:k]:
                    try:
                        row = fn()
                    except Exception as e:  # noqa: BLE001 - report and go on with the others
                        failures.append(f"{impl} ({t}) at {c} clients: {e}")
                        row = None
                    done += 1
                    if row is not None:
                        pooled = impl not in (PREPARED, PHYSICAL, UNPOOLED, RAW, PIPELINE)
                        row.setdefault("pool_size", pool_size_for(c) if pooled else None)
                        if not pooled:
                            row["pool_size"] = None
                        row.update({"impl": impl, "clients": c, "round": r, "transport": t})
                        results.append(row)
                    progress(impl, t, c, row)
            run_bindings(t, c)

    doc = {"seconds_per_point": args.seconds, "slices": args.slices,
           "slice_seconds": args.slice_seconds, "clients": clients_list, "go_clients": go_clients,
           "transports": transports, "log_sampling": args.log_sampling, "cpus": args.cpus,
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
    """One row per (transport, impl, clients): medians over slices; ratio = median of the
    per-slice ratios to pgbench -M prepared of the same pass and transport (the bindings' rows:
    to its median)."""
    rows = server["results"]
    for r in rows:
        r.setdefault("transport", "unix")  # older files: Unix socket only
    ceiling = PREPARED if any(r["impl"] == PREPARED for r in rows) else "pgbench (physical limit)"
    base_of = {(r["round"], r["transport"], r["clients"]): r["ops_per_sec"] for r in rows if r["impl"] == ceiling}
    base_med = {(t, c): median([v for (_, tt, cl), v in base_of.items() if tt == t and cl == c])
                for t in {r["transport"] for r in rows} for c in {r["clients"] for r in rows}}
    keys: list[tuple[str, str, int]] = []
    for r in rows:
        if (r["transport"], r["impl"], r["clients"]) not in keys:
            keys.append((r["transport"], r["impl"], r["clients"]))
    out = []
    for t, impl, c in keys:
        mine = [r for r in rows if r["impl"] == impl and r["clients"] == c and r["transport"] == t]
        ratios = []
        for r in mine:
            base = base_of.get((r.get("round"), t, c)) or base_med.get((t, c))
            if base and base == base:
                ratios.append(float(r["ops_per_sec"]) / base)
        agg = {"transport": t, "impl": impl, "clients": c, "slices": len(mine),
               "ops_per_sec": round(median([float(r["ops_per_sec"]) for r in mine]), 1),
               "p50_us": round(median([float(r.get("p50_us", float("nan"))) for r in mine]), 1),
               "p99_us": round(median([float(r.get("p99_us", float("nan"))) for r in mine]), 1),
               "vs_ceiling": round(median(ratios), 4) if ratios else None,
               "vs_ceiling_min": round(min(ratios), 4) if ratios else None,
               "vs_ceiling_max": round(max(ratios), 4) if ratios else None,
               "pool_size": mine[0].get("pool_size")}
        for extra in ("health_checks", "errors"):
            if extra in mine[0]:
                agg[extra] = sum(int(r.get(extra, 0)) for r in mine)
        if "paired_ratio_median" in mine[0]:
            agg["paired_ratio_median"] = mine[0]["paired_ratio_median"]
        if "connection_switches" in mine[0] and impl != RAW:
            agg["connection_switches"] = round(median([float(r["connection_switches"]) for r in mine]), 4)
        out.append(agg)
    rank = {name: i for i, name in enumerate(ORDER)}
    out.sort(key=lambda a: (TRANSPORTS.index(a["transport"]) if a["transport"] in TRANSPORTS else 9,
                            ACQ in a["impl"], a["clients"], rank.get(a["impl"], len(ORDER)),
                            keys.index((a["transport"], a["impl"], a["clients"]))))
    return out


def fmt_int(v) -> str:
    return f"{v:,.0f}" if isinstance(v, (int, float)) and v == v else "-"


def fmt_us(v) -> str:
    if not isinstance(v, (int, float)) or v != v:
        return "-"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def server_table(rows: list[dict]) -> list[str]:
    lines = []
    for t in sorted({r["transport"] for r in rows}, key=lambda t: TRANSPORTS.index(t) if t in TRANSPORTS else 9):
        lines += ["", f"{'TCP 127.0.0.1' if t == 'tcp' else 'Unix socket'}:",
                  "| clients | implementation | pool | ops/s | p50 µs | p99 µs | × pgbench -M prepared (slice range) |",
                  "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
        last = None
        for r in (r for r in rows if r["transport"] == t):
            if ACQ in r["impl"] and (last is None or not last[1]):
                lines.append(f"| | **acquire + release only, no statement (pool of {ACQ_POOL})** | | | | | |")
            key = (r["clients"], ACQ in r["impl"])
            c = str(r["clients"]) if key != last else ""
            last = key
            ratio = "-" if ACQ in r["impl"] else (f"{r['vs_ceiling']:.2f}" if r.get("vs_ceiling") is not None else "-")
            if (ACQ not in r["impl"] and r.get("slices", 1) > 1 and r.get("vs_ceiling_min") is not None
                    and r["impl"] != PREPARED):
                ratio += f" ({r['vs_ceiling_min']:.2f}–{r['vs_ceiling_max']:.2f})"
            pool = str(r["pool_size"]) if r.get("pool_size") else "-"
            lines.append(f"| {c} | {r['impl']} | {pool} | {fmt_int(r['ops_per_sec'])} | "
                         f"{fmt_us(r['p50_us'])} | {fmt_us(r['p99_us'])} | {ratio} |")
    return lines


def memory_summary(memory: dict) -> dict | None:
    """Bytes per pooled connection beyond libpq's own, and per waiting caller (goal 7)."""
    raw, pool, waiters = memory.get("raw"), memory.get("pool"), memory.get("waiters")
    if not (raw and pool):
        return None
    n = pool["count"]
    out = {"connections": n,
           "libpq_heap_per_connection": raw["heap_bytes"] / raw["count"],
           "libpq_rss_per_connection": raw["rss_bytes"] / raw["count"],
           "pool_heap_per_connection": pool["heap_bytes"] / n,
           "pool_rss_per_connection": pool["rss_bytes"] / n}
    out["heap_beyond_libpq"] = out["pool_heap_per_connection"] - out["libpq_heap_per_connection"]
    out["rss_beyond_libpq"] = out["pool_rss_per_connection"] - out["libpq_rss_per_connection"]
    if waiters:
        out["waiters"] = waiters["count"]
        out["heap_per_waiter"] = waiters["heap_bytes"] / waiters["count"]
        out["rss_per_waiter"] = waiters["rss_bytes"] / waiters["count"]
    return out


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
    """Issue 17's goals (and the earlier ones still measured here), met or missed, with figures."""
    def row(impl, c, t):
        return next((r for r in rows if r["impl"] == impl and r["clients"] == c and r["transport"] == t), None)

    def ops(r):
        return f"{r['ops_per_sec']:,.0f}"

    transports = [t for t in TRANSPORTS if any(r["transport"] == t for r in rows)]
    out = []

    def at_least(goal, mine, theirs, cs, factor=1.0):
        for t in transports:
            for c in cs:
                a, b = row(mine, c, t), row(theirs, c, t)
                if a and b and b["ops_per_sec"]:
                    x = a["ops_per_sec"] / b["ops_per_sec"]
                    out.append({"goal": f"{goal} at {c} client(s), {t}",
                                "measured": f"{x:.2f}x ({ops(a)} vs {ops(b)} ops/s)",
                                "met": x >= factor})

    at_least("C >= HikariCP", CONNPOOL, HIKARI, (1, 2, 8, 32))
    at_least("C >= pgxpool", CONNPOOL, PGXPOOL, (1, 2, 8, 32))
    at_least("C within 3% of each thread its own connection", CONNPOOL, RAW, (1, 2, 8), 0.97)
    at_least("C: 32 threads on 16 connections >= 0.9x on 32", CONNPOOL, CONNPOOL_32, (32,), 0.9)
    at_least("Go >= pgxpool", GO, PGXPOOL, (1, 2, 8, 32, 64))
    at_least("Python >= psycopg2 ThreadedConnectionPool", PYTHON, PSYCOPG2, (1, 2, 8, 32))
    at_least("Python >= 3x psycopg_pool", PYTHON, PSYCOPG_POOL, (1, 2, 8, 32), 3.0)
    at_least("acquire+release (pool of 4): C >= pgxpool", CONNPOOL + ACQ, PGXPOOL + ACQ, (1, 8))
    at_least("(informative) acquire+release (pool of 4): C vs HikariCP", CONNPOOL + ACQ, HIKARI + ACQ, (1, 8))
    at_least("(informative) acquire+release (pool of 4): Go >= pgxpool", GO + ACQ, PGXPOOL + ACQ, (1, 8))
    for n in MUX_CALLERS:  # statements/s of N callers on 4 connections vs pgbench at 32 clients
        at_least(f"multiplexed, {n} callers on 4 connections >= 1.5x pgbench -M prepared",
                 MUX.format(n), PREPARED, (32,), 1.5)
        at_least(f"(informative) multiplexed, {n} callers on 4 connections vs pgbench pipeline",
                 MUX.format(n), PIPELINE, (32,))
    for t in transports:
        for c in sorted({r["clients"] for r in rows}):
            a, b = row(CONNPOOL_ROLLBACK, c, t), row(CONNPOOL_AUTO, c, t)
            if a and b and a["ops_per_sec"]:
                # How much slower the default is than resetting off (negative: faster, noise).
                cost = 1 - b["ops_per_sec"] / a["ops_per_sec"]
                out.append({"goal": f"reset cost <= 3% (auto vs rollback) at {c} client(s), {t}",
                            "measured": f"{cost * 100:+.1f}% (auto {ops(b)}, rollback {ops(a)} ops/s; "
                                        "negative = noise)",
                            "met": cost <= 0.03})
    mem = memory_summary(memory) if memory else None
    if mem:
        waiter = (f"; {mem['heap_per_waiter']:,.0f} heap B / {mem['rss_per_waiter']:,.0f} RSS B per waiting "
                  f"caller ({mem['waiters']} waiting)") if "waiters" in mem else ""
        out.append({"goal": "memory per pooled connection beyond libpq's and per waiting caller (reported)",
                    "measured": f"{mem['heap_beyond_libpq']:,.0f} heap B / {mem['rss_beyond_libpq']:,.0f} RSS B "
                                f"per connection beyond libpq's {mem['libpq_heap_per_connection']:,.0f} heap B "
                                f"({mem['connections']} connections){waiter}",
                    "met": True})
    # Earlier issues' goals, still measured.
    for t in transports:
        for c in sorted({r["clients"] for r in rows}):
            a, b = row(CONNPOOL, c, t), row(UNPOOLED, c, t)
            if a and b and b["ops_per_sec"]:
                x = a["ops_per_sec"] / b["ops_per_sec"]
                out.append({"goal": f"(earlier) >= 10x the unpooled baseline at {c} client(s), {t}",
                            "measured": f"{x:.1f}x", "met": x >= 10})
            a, b = row(CONNPOOL, c, t), row(CONNPOOL_NOPING, c, t)
            if a and b and a["ops_per_sec"]:
                # How much slower the default is than resetting off (negative: faster, noise).
                cost = 1 - b["ops_per_sec"] / a["ops_per_sec"]
                out.append({"goal": f"(earlier) pre_ping default costs < 5% at {c} client(s), {t}",
                            "measured": f"{cost * 100:+.1f}% ({a.get('health_checks', 0)} pre-pings ran; "
                                        "negative = noise)",
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
    # One line per implementation; the single-point and same-pool variants stay in the table.
    rows = [r for r in rows if ACQ not in r["impl"] and r["impl"] not in (CONNPOOL_AUTO, CONNPOOL_ROLLBACK)
            and "threads on" not in r["impl"]]
    impls = []
    for r in rows:
        if r["impl"] not in impls:
            impls.append(r["impl"])
    data = work / (png.stem + ".dat")
    with open(data, "w") as f:
        for impl in impls:
            f.write(f'"{impl}"\n')
            for r in sorted((r for r in rows if r["impl"] == impl), key=lambda r: r["clients"]):
                f.write(f"{r['clients']} {r['ops_per_sec']}\n")
            f.write("\n\n")
    styles = {PREPARED: "lc rgb '#000000' lw 3 dt 2 pt 7", PHYSICAL: "lc rgb '#444444' lw 1.5 dt 2 pt 6",
              CONNPOOL: "lc rgb '#d62728' lw 3 pt 7", HIKARI: "lc rgb '#ff7f0e' lw 2.5 pt 5",
              PGXPOOL: "lc rgb '#17becf' lw 2.5 pt 9", GO: "lc rgb '#2ca02c' lw 2 pt 9",
              PYTHON: "lc rgb '#9467bd' lw 2 pt 11", PSYCOPG2: "lc rgb '#8c564b' lw 2 pt 13",
              PSYCOPG_POOL: "lc rgb '#bcbd22' lw 2 pt 13",
              RAW: "lc rgb '#555555' lw 1.5 dt 4 pt 1",
              CONNPOOL_NOPING: "lc rgb '#ff9896' lw 1.5 pt 6",
              CONNPOOL_PINGALL: "lc rgb '#e377c2' lw 1.5 pt 4",
              BOUNCER: "lc rgb '#1f77b4' lw 2 pt 5", BOUNCER_C: "lc rgb '#1f77b4' lw 1.5 dt 3 pt 4",
              UNPOOLED: "lc rgb '#7f7f7f' lw 2 dt 3 pt 9"}
    palette = ["#e7ba52", "#637939", "#7b4173", "#3182bd", "#843c39", "#31a354"]
    plots = []
    for i, impl in enumerate(impls):
        style = styles.get(impl) or f"lc rgb '{palette[i % len(palette)]}' lw 2 pt {i % 12 + 1}"
        plots.append(f"'{data}' index {i} using 1:2 with linespoints {style} title columnheader(1)")
    script = work / (png.stem + ".gp")
    xtics = ", ".join(f'"{c}" {c}' for c in clients)
    script.write_text(f"""set terminal pngcairo size 1200,700 font "sans,11" noenhanced
set output '{png}'
set title "{title}"
set xlabel "concurrent clients (every pool fixed at min(clients, 16) connections)"
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
    modes_memory = {k: json.loads(pathlib.Path(v).read_text()) for k, v in
                    (("raw", args.memory_raw), ("pool", args.memory_pool), ("waiters", args.memory_waiters))
                    if v and pathlib.Path(v).exists() and pathlib.Path(v).stat().st_size}
    meta = dict(kv.split("=", 1) for kv in (args.meta or []))
    rows = aggregate(server) if server else []
    doc = {"generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": meta.pop("command", "bench/run"),
           "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                       "load_avg_at_end": [round(x, 2) for x in os.getloadavg()]},
           "meta": meta}
    if server:
        doc["server"] = {k: server.get(k) for k in ("seconds_per_point", "slices", "slice_seconds",
                                                    "clients", "go_clients", "transports",
                                                    "log_sampling", "cpus", "notes", "failures")}
        doc["server"]["rows"] = rows
    if memory:
        doc["memory_real_server"] = memory
    if modes_memory:
        doc["memory_vs_libpq"] = dict(modes_memory, summary=memory_summary(modes_memory))
    if micro:
        doc["micro"] = micro
    doc["goals"] = goals(rows, micro, modes_memory)
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")

    if rows:
        print()
        pinned = f", everything pinned to CPU(s) {server['cpus']}" if server.get("cpus") else ""
        print(f"Real server: PostgreSQL 15 on this machine, SELECT 1 per operation (acquire, run, read, "
              f"release), every pool fixed and pre-filled at min(clients, 16) connections, "
              f"{server['seconds_per_point']:g} s per point as {server['slices']} interleaved slices of "
              f"{server['slice_seconds']} s (medians; bindings: their own runs){pinned}")
        print("\n".join(server_table(rows)))
        for note in server.get("notes", []):
            print(f"note: {note}")
        for f in server.get("failures", []):
            print(f"FAILED: {f}")
    if memory:
        print(f"\nReal libpq connections: {memory['heap_bytes_per_connection']:,.0f} heap bytes per pooled "
              f"connection ({memory['connections']} connections), libpq's buffers included")
    mem = memory_summary(modes_memory) if modes_memory else None
    if mem:
        print("\nMemory (goal 7; growth of a fresh process, glibc heap and RSS):")
        print(f"  {mem['connections']} bare libpq connections: {mem['libpq_heap_per_connection']:,.0f} heap B, "
              f"{mem['libpq_rss_per_connection']:,.0f} RSS B each")
        print(f"  pool of {mem['connections']}: {mem['pool_heap_per_connection']:,.0f} heap B, "
              f"{mem['pool_rss_per_connection']:,.0f} RSS B each -> beyond libpq's own: "
              f"{mem['heap_beyond_libpq']:,.0f} heap B, {mem['rss_beyond_libpq']:,.0f} RSS B per connection")
        if "waiters" in mem:
            print(f"  {mem['waiters']} callers waiting in acquire (over parked threads): "
                  f"{mem['heap_per_waiter']:,.0f} heap B, {mem['rss_per_waiter']:,.0f} RSS B per waiting caller")
    if micro:
        print("\nMicrobenchmarks (connpool_micro_bench):")
        print("\n".join(micro_table(micro)))
    if doc["goals"]:
        print("\nGoals:")
        for g in doc["goals"]:
            print(f"  [{'met ' if g['met'] else 'MISS'}] {g['goal']}: {g['measured']}")
    if rows and args.chart:
        chart = pathlib.Path(args.chart)
        for t in TRANSPORTS:
            mine = [r for r in rows if r["transport"] == t]
            if not mine:
                continue
            png = chart if t == "tcp" or not any(r["transport"] == "tcp" for r in rows) else \
                chart.with_name(chart.stem + f"-{t}" + chart.suffix)
            title = (f"SELECT 1 per operation over {'TCP 127.0.0.1' if t == 'tcp' else 'the Unix socket'}, "
                     f"{os.cpu_count()} cores, {doc['generated'][:10]}")
            xs = sorted({r["clients"] for r in mine})
            if write_chart(mine, xs, png, pathlib.Path(args.work), title):
                print(f"chart: {png}")
    print(f"figures: {args.out}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("server")
    s.add_argument("--conninfo", required=True, help="Unix-socket conninfo")
    s.add_argument("--conninfo-tcp", help="TCP 127.0.0.1 conninfo of the same server")
    s.add_argument("--transports", default="tcp,unix")
    s.add_argument("--modes-driver", help="connpool_modes_bench (reset and acquire-only rows)")
    s.add_argument("--mux-driver", help="connpool_mux_bench (multiplexing rows, TCP at 32 clients)")
    s.add_argument("--java", help="java binary (HikariCP rows)")
    s.add_argument("--java-cp", help="classpath: HikariBench classes + HikariCP, pgjdbc, slf4j, junixsocket")
    s.add_argument("--java-warmup", type=float, default=2, help="seconds of JIT warm-up per run")
    s.add_argument("--go-extra-clients", default="64", help="client counts for Go only")
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
    r.add_argument("--memory-raw", help="connpool_modes_bench --memory raw JSON")
    r.add_argument("--memory-pool", help="connpool_modes_bench --memory pool JSON")
    r.add_argument("--memory-waiters", help="connpool_modes_bench --memory waiters JSON")
    r.add_argument("--meta", action="append")
    r.add_argument("--chart")
    r.add_argument("--work", required=True)
    r.add_argument("--out", required=True)
    r.set_defaults(fn=cmd_report)

    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
