"""`make bench`: build the dataset on a fresh PostgreSQL, serve it with gunicorn, drive load
from a separate process, and write the results into bench/RESULTS.md.

    python -m bench.run [--scale full|small|tiny] [--duration S] [--rounds N] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import port_for

from bench import dataset
from tests.pg_cluster import start_cluster

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"

# A production-like server: durable commits, memory for the working set, checkpoints spread
# out so the bulk load is not throttled by them. The executor starts postgres with -F (fsync
# off, right for tests); the settings below come after it on the command line and win.
PG_OPTIONS = (
    "-c fsync=on -c synchronous_commit=on -c full_page_writes=on "
    "-c max_connections=100 -c shared_buffers=2GB -c effective_cache_size=8GB "
    "-c work_mem=16MB -c maintenance_work_mem=1GB -c max_wal_size=8GB "
    "-c checkpoint_timeout=30min -c random_page_cost=1.1 -c jit=off"
)

TARGETS = {
    "balance_ratio": 0.50,
    "redemption_ratio": 0.25,
    "leaderboard_p95_ms": 50.0,
    "leaderboard_growth": 1.5,
    "bulk_approve_ms": 2000.0,
    "worker_mb": 200.0,
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def machine() -> dict:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024),
            "python": platform.python_version(), "system": f"{platform.system()} "
            f"{platform.release()}"}


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024


def _serve(url: str, workers: int, port: int, logfile: Path) -> subprocess.Popen:
    env = dict(os.environ, TIMEBANK_DATABASE_URL=url, TIMEBANK_SECRET_KEY="bench",
               TIMEBANK_DB_POOL_SIZE="2", TIMEBANK_DB_MAX_OVERFLOW="2")
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    proc = subprocess.Popen(
        [gunicorn, "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
         "--log-level", "warning", "wsgi:app"],
        cwd=ROOT, env=env, stdout=logfile.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {logfile.read_text()[-2000:]}")
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer /healthz")


def _verify(url: str, when: str) -> tuple[bool, float, int]:
    began = time.monotonic()
    report = dataset.verify(url)
    took = time.monotonic() - began
    log(f"ledger verify {when}: {'clean' if report.ok else 'PROBLEMS'} "
        f"({report.transactions:,} transactions, {took:.0f} s)")
    for problem in report.problems[:20]:
        log(f"  {problem}")
    return report.ok, took, report.transactions


def run(scale_name: str, *, duration: float, warmup: float, rounds: int, workers: int,
        concurrency: int) -> dict:
    scale = dataset.SCALES[scale_name]
    cluster = start_cluster(PG_OPTIONS)
    work = Path(tempfile.mkdtemp(prefix="timebank-bench-"))
    server = None
    try:
        url = cluster.create_database("timebank_bench")
        began = time.monotonic()
        plan = dataset.build(url, scale)
        build_s = time.monotonic() - began
        ok_before, verify_s, _n = _verify(url, "after building")
        if not ok_before:
            raise SystemExit("the dataset does not verify; not benchmarking it")
        (work / "plan.json").write_text(json.dumps(plan))
        port = port_for.select_random()
        log(f"gunicorn: {workers} workers on port {port}")
        server = _serve(url, workers, port, work / "gunicorn.log")
        master = server.pid
        log(f"driving load: {duration:.0f} s per endpoint in {rounds} rounds, "
            f"{concurrency} clients")
        subprocess.run(
            [sys.executable, "-m", "bench.load", str(work / "plan.json"),
             f"http://127.0.0.1:{port}", str(work / "out.json"), "--duration", str(duration),
             "--warmup", str(warmup), "--rounds", str(rounds),
             "--concurrency", str(concurrency)],
            cwd=ROOT, check=True)
        peaks = [_peak_rss_mb(pid) for pid in _children(master)]
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server = None
        results = json.loads((work / "out.json").read_text())
        ok_after, _s, transactions = _verify(url, "after the run")
        return {
            "scale": scale_name,
            "dataset": plan["scale"],
            "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(),
            "postgresql": cluster_version(cluster),
            "workers": workers,
            "concurrency": concurrency,
            "duration_s": duration,
            "rounds": rounds,
            "build_s": round(build_s),
            "verify_s": round(verify_s),
            "transactions_after": transactions,
            "ledger_clean": ok_before and ok_after,
            "worker_peak_mb": [round(p, 1) for p in sorted(peaks)],
            "results": results,
        }
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def cluster_version(cluster) -> str:
    """The server's version and its durability settings, as the run had them."""
    with cluster._admin() as conn:
        version = conn.execute("SHOW server_version").fetchone()[0].split()[0]
        durable = ", ".join(f"{name}={conn.execute(f'SHOW {name}').fetchone()[0]}"
                            for name in ("fsync", "synchronous_commit", "full_page_writes"))
    return f"{version} ({durable})"


# --- reporting ---------------------------------------------------------------------------


def table(report: dict) -> str:
    by = {r["name"]: r for r in report["results"]}
    ceiling = by["healthz"]["rps"] or 1
    lines = [
        "| Endpoint | req/s | p50 ms | p95 ms | max ms | × `/healthz` | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        ratio = "—" if r["name"] == "bulk_approve" else f"{r['rps'] / ceiling:.0%}"
        lines.append(f"| {r['label']} | {r['rps']:,} | {r['p50_ms']} | {r['p95_ms']} | "
                     f"{r['max_ms']} | {ratio} | {r['errors']} |")
    return "\n".join(lines)


def targets(report: dict, small: dict | None) -> list[tuple[str, str, bool]]:
    by = {r["name"]: r for r in report["results"]}
    ceiling = by["healthz"]["rps"] or 1
    peak = max(report["worker_peak_mb"], default=0)
    checks = [
        ("balance reads ≥ 50% of `/healthz`", f"{by['balance']['rps'] / ceiling:.0%}",
         by["balance"]["rps"] / ceiling >= TARGETS["balance_ratio"]),
        ("redemptions ≥ 25% of `/healthz`, zero errors, ledger clean",
         f"{by['redemption']['rps'] / ceiling:.0%}, {by['redemption']['errors']} errors, "
         f"{'clean' if report['ledger_clean'] else 'NOT clean'}",
         by["redemption"]["rps"] / ceiling >= TARGETS["redemption_ratio"]
         and by["redemption"]["errors"] == 0 and report["ledger_clean"]),
        ("leaderboard p95 ≤ 50 ms", f"{by['leaderboard']['p95_ms']} ms",
         by["leaderboard"]["p95_ms"] <= TARGETS["leaderboard_p95_ms"]),
        ("bulk approve of 1,000 records ≤ 2 s", f"{by['bulk_approve']['max_ms']:.0f} ms "
         "(slowest batch)", by["bulk_approve"]["max_ms"] <= TARGETS["bulk_approve_ms"]),
        ("≤ 200 MB per worker", f"{peak:.0f} MB (peak RSS)", peak <= TARGETS["worker_mb"]),
        ("zero errors", str(sum(r["errors"] for r in report["results"])),
         all(r["errors"] == 0 for r in report["results"])),
    ]
    if small is not None and report["scale"] == "full":
        small_p95 = {r["name"]: r for r in small["results"]}["leaderboard"]["p95_ms"] or 1
        growth = by["leaderboard"]["p95_ms"] / small_p95
        checks.append(("leaderboard p95 ≤ 1.5× its p95 at 1/20 scale",
                       f"{growth:.2f}× ({by['leaderboard']['p95_ms']} vs {small_p95} ms)",
                       growth <= TARGETS["leaderboard_growth"]))
    return checks


def section(report: dict, small: dict | None) -> str:
    m = report["machine"]
    d = report["dataset"]
    out = [
        f"### Scale `{report['scale']}` — {report['when']}",
        "",
        f"Dataset: {d['members']:,} members, {d['records']:,} approved records, "
        f"{d['redemptions']:,} redemptions (10 communities, 200 grids); built and loaded in "
        f"{report['build_s']} s; `ledger verify` {report['verify_s']} s, "
        f"{'clean' if report['ledger_clean'] else 'NOT CLEAN'} before and after the run "
        f"({report['transactions_after']:,} transactions after).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['system']}; "
        f"Python {m['python']}; PostgreSQL {report['postgresql']} on the same machine; "
        f"gunicorn with {report['workers']} workers; the driver in its own process with "
        f"{report['concurrency']} clients, {report['duration_s']:.0f} s per endpoint "
        f"in {report.get('rounds', 1)} rounds (the endpoints take turns, so a drift of "
        "the machine during the run shifts them all alike).",
        "",
        table(report),
        "",
        "Peak memory per worker (VmHWM): "
        f"{', '.join(f'{p:.0f}' for p in report['worker_peak_mb'])} MB.",
        "",
        "| Target | Measured | Met |",
        "|---|---|---|",
    ]
    for name, measured, met in targets(report, small):
        out.append(f"| {name} | {measured} | {'yes' if met else '**no**'} |")
    return "\n".join(out)


def write_results(report: dict) -> None:
    store = ROOT / "bench" / "results"
    store.mkdir(exist_ok=True)
    (store / f"{report['scale']}.json").write_text(json.dumps(report, indent=1) + "\n")
    small_path = store / "small.json"
    small = json.loads(small_path.read_text()) if small_path.exists() else None
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    begin, end = f"<!-- results:{report['scale']} -->", f"<!-- /results:{report['scale']} -->"
    block = f"{begin}\n{section(report, small)}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _m: block, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    RESULTS.write_text(text)
    log(f"results written to {RESULTS.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(dataset.SCALES), default="full")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of warm-up before each round of each endpoint")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--no-write", action="store_true",
                        help="print the results, leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    report = run(args.scale, duration=args.duration, warmup=args.warmup, rounds=args.rounds,
                 workers=args.workers, concurrency=args.concurrency or args.workers)
    if args.no_write or args.scale == "tiny":
        print(section(report, None))
    else:
        write_results(report)
        print(section(report, None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
