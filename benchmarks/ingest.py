"""Ingestion benchmark (issue 3): `kompas serve` as in production (gunicorn, 2 workers) against a
bare Flask app that only answers 200, in the same run, both driven by wrk with 16 connections.

    .venv/bin/python benchmarks/ingest.py --db sqlite
    .venv/bin/python benchmarks/ingest.py --db postgres

Each round starts with nothing left to apply (`kompas drain` between rounds), so that Kompas's worker
catching up never shares the machine with the bare app's round.
Prints requests/s, p50, p99 and errors of both, the ratio kompas/bare, and checks that every
acknowledged delivery is stored and counted in `kompas report` after `kompas drain`.
Also prints, as a diagnostic, the CPU time each request cost (read from /proc: the server's
gunicorn processes, and PostgreSQL's backends serving the benchmark's database; apart from them what
Kompas's delivery worker used meanwhile) and how much of the
machine stayed idle during the rounds: on a shared machine requests/s swing by a quarter from one
run to the next with the neighbours' load, CPU per request far less, so this tells where a change
helped even when the throughput figures are noise.
Needs wrk (Debian package `wrk`; installed by this script when missing and running as root).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.demo import CATALOGUE, order_payload  # noqa: E402
from webhooks.signatures import sign  # noqa: E402

SECRET = "bench-secret"
SHOP = "bench.myshopify.com"
AMS = ZoneInfo("Europe/Amsterdam")
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
KOMPAS = [PY, "-m", "plugin.cli"]
PER_ROUND = 40_000  # distinct deliveries available to each round
WRK_THREADS = 2


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, stdout=subprocess.DEVNULL)
        return shutil.which("wrk") or sys.exit("wrk could not be installed")
    sys.exit("wrk is needed: apt-get install wrk")


def make_requests(prefix: Path, rounds: int, threads: int = WRK_THREADS) -> int:
    """PER_ROUND distinct orders/create bodies of about 3 KB per round, signed, in one file per
    round and wrk thread (`{prefix}.r{round}.t{thread}`, see wrk_signed.lua); returns the body size."""
    start = datetime(2026, 6, 1, 9, tzinfo=AMS)
    size = 0
    for r in range(rounds):
        outs = [Path(f"{prefix}.r{r}.t{t}").open("w") for t in range(threads)]
        for n in range(r * PER_ROUND, (r + 1) * PER_ROUND):
            created = start + timedelta(seconds=n * 7)
            lines = [(title, Decimal(price), 1 + (n + i) % 3) for i, (title, price) in enumerate(CATALOGUE[:3])]
            body = order_payload(10_000_000 + n, created=created, updated=created, zone=AMS, lines=lines,
                                 customer_id=500 + n % 4000, email=f"klant{n % 4000}@example.nl")
            raw = json.dumps(body, separators=(",", ":")).encode()
            size = len(raw)
            outs[n % threads].write(f"{uuid.uuid4()}\t{sign(raw, SECRET)}\t{raw.decode()}\n")
        for out in outs:
            out.close()
    return size


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def processes():
    """(pid, session id, CPU ticks so far, command line) of every process, from /proc (a process
    that ends meanwhile is left out)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read()
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        yield int(entry), int(fields[3]), int(fields[11]) + int(fields[12]), title


def cpu_seconds(session: int, database: str | None) -> tuple[float, float, float]:
    """CPU seconds (user + system) used so far by the processes of `session` (a server started by
    `serve`): its gunicorn processes (the receivers) and the others (Kompas's delivery worker and
    alert scheduler, which use the CPU the receivers leave); and by the PostgreSQL backends
    connected to `database`."""
    receivers = others = backends = 0
    for _, sid, ticks, title in processes():
        if sid == session:
            if b"gunicorn" in title:
                receivers += ticks
            else:
                others += ticks
        elif database and title.startswith(b"postgres: ") and f" {database} ".encode() in title:
            backends += ticks
    return receivers / CLOCK_TICKS, others / CLOCK_TICKS, backends / CLOCK_TICKS


def idle_share() -> tuple[int, int]:
    """(idle + iowait, total) jiffies of the whole machine so far."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return values[3] + values[4], sum(values)


def wait_ready(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not start")


def connection_spread(session: int, port: int) -> list[int]:
    """How many of the established connections to `port` each process of `session` holds (those
    holding any), fewest first: with --reuse-port the kernel spreads them over the workers by a
    hash of their addresses, not evenly."""
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for row in f.readlines()[1:]:
                fields = row.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":   # 01: ESTABLISHED
                    sockets.add(f"socket:[{fields[9]}]")
    counts = []
    for pid, sid, _, _ in processes():
        if sid != session:
            continue
        try:
            held = sum(os.readlink(f"/proc/{pid}/fd/{fd}") in sockets for fd in os.listdir(f"/proc/{pid}/fd"))
        except OSError:  # it ended meanwhile
            continue
        if held:
            counts.append(held)
    return sorted(counts)


def run_wrk(wrk: str, port: int, requests: str, seconds: int, connections: int, session: int | None = None) -> dict:
    """One wrk run against `port`; with `session`, also how the connections were spread over
    that server's processes (looked at once they are all open)."""
    script = ROOT / "benchmarks" / "wrk_signed.lua"
    proc = subprocess.Popen([wrk, f"-t{WRK_THREADS}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s",
                             str(script), f"http://127.0.0.1:{port}", "--", requests, SHOP],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    spread = None
    if session is not None:
        time.sleep(min(2, seconds / 2))
        spread = connection_spread(session, port)
    out, err = proc.communicate()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, out, err)

    def latency(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return {"requests": total, "distinct": int(re.search(r"distinct deliveries sent: (\d+)", out).group(1)),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": latency("50"), "p99_ms": latency("99"), "errors": errors, "spread": spread}


def measured_wrk(wrk: str, port: int, requests: str, seconds: int, connections: int,
                 server: subprocess.Popen, database: str | None) -> dict:
    """run_wrk, plus the CPU per request of the server and its database and the machine's idle share."""
    cpu_before, idle_before = cpu_seconds(server.pid, database), idle_share()
    result = run_wrk(wrk, port, requests, seconds, connections, server.pid)
    cpu_after, idle_after = cpu_seconds(server.pid, database), idle_share()
    per_request = lambda a, b: (b - a) / max(result["requests"], 1) * 1e6  # noqa: E731
    result["server_us"] = per_request(cpu_before[0], cpu_after[0])
    result["worker_us"] = per_request(cpu_before[1], cpu_after[1])
    result["database_us"] = per_request(cpu_before[2], cpu_after[2])
    result["idle"] = (idle_after[0] - idle_before[0]) / max(idle_after[1] - idle_before[1], 1)
    return result


def _middle(runs: list[dict], key: str) -> dict:
    """The run whose `key` is the median (the upper one of two middles)."""
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


def median_of(runs: list[dict], key: str) -> float:
    return _middle(runs, key)[key]


def median_run(runs: list[dict]) -> dict:
    return dict(_middle(runs, "rps"))


def serve(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    wait_ready(port)
    return proc


def drain(env: dict) -> float:
    """`kompas drain`: apply everything received; returns the seconds it took."""
    t0 = time.monotonic()
    subprocess.run(KOMPAS + ["drain"], env=env, cwd=ROOT, check=True, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-worker", action="store_true",
                        help="diagnostic: serve without the delivery worker (drain applies everything after)")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    wrk = ensure_wrk()
    work = Path(tempfile.mkdtemp(prefix="kompas-bench-"))
    env = dict(os.environ, KOMPAS_SHOPIFY_API_SECRET=SECRET, KOMPAS_INSTANCE_PATH=str(work), PYTHONPATH=str(ROOT))
    env.pop("KOMPAS_APPLY_INLINE", None)
    pg_name = None
    if args.db == "postgres":
        import psycopg
        pg_name = f"kompas_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{pg_name}"')
            synchronous = conn.execute("SHOW synchronous_commit").fetchone()[0]
        env["KOMPAS_DATABASE_URL"] = args.pg_url.rsplit("/", 1)[0] + "/" + pg_name
    else:
        synchronous = env.get("KOMPAS_SQLITE_SYNCHRONOUS", "FULL")
    try:
        subprocess.run(KOMPAS + ["db", "upgrade"], env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(KOMPAS + ["shop", "add", "--platform", "shopify", "--domain", SHOP, "--timezone",
                                 "Europe/Amsterdam", "--currency", "EUR"], env=env, cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
        body_size = make_requests(work / "requests", args.rounds)

        # Both servers stay up; the runs alternate, so that load from other tenants of this
        # shared machine hits both alike. The figures are the medians over the rounds.
        # The bare app runs with the same gunicorn settings as `kompas serve` (plugin.cli.serve).
        bare = serve([PY, "-m", "gunicorn", "--bind", "127.0.0.1:8601", "--workers", "2", "--threads", "8",
                      "--worker-class", "gthread", "--reuse-port", "benchmarks.bare_app:app"], env, 8601)
        kompas = serve(KOMPAS + ["serve", "--port", "8602"] + (["--no-worker"] if args.no_worker else []), env, 8602)
        bare_runs, kompas_runs, between = [], [], []
        try:
            for r in range(args.rounds):
                requests = f"{work / 'requests'}.r{r}"  # fresh deliveries for every round
                bare_runs.append(measured_wrk(wrk, 8601, requests, args.seconds, args.connections, bare, None))
                kompas_runs.append(measured_wrk(wrk, 8602, requests, args.seconds, args.connections, kompas, pg_name))
                if r + 1 < args.rounds:
                    # Kompas's worker catches up after a burst; the next bare round must not share
                    # the machine with it, so each round starts with nothing left to apply.
                    between.append(drain(env))
        finally:
            stop(bare)
            stop(kompas)
        bare_result, kompas_result = median_run(bare_runs), median_run(kompas_runs)
        kompas_result["requests"] = sum(r["requests"] for r in kompas_runs)
        kompas_result["errors"] = sum(r["errors"] for r in kompas_runs)
        drain_seconds = drain(env)
        report = json.loads(subprocess.run(KOMPAS + ["report", "--shop", SHOP, "--from", "2026-01-01", "--to",
                                                     "2027-12-31", "--json"], env=env, cwd=ROOT, check=True,
                                           capture_output=True, text=True).stdout)
        acked = kompas_result["requests"] - kompas_result["errors"]
        # The orders are the distinct deliveries wrk sent (past the end of its lines a wrk thread
        # repeats them, and its two threads need not send alike); up to one per connection was
        # still in flight when wrk stopped and may or may not have been stored.
        high = sum(r["distinct"] for r in kompas_runs)
        low = sum(max(r["distinct"] - args.connections, 0) for r in kompas_runs)
        ratio = kompas_result["rps"] / bare_result["rps"]
        print(f"ingestion benchmark, {args.db} (synchronous {synchronous}), {args.connections} connections, "
              f"{args.rounds} alternating rounds of {args.seconds} s each (medians), orders/create bodies of "
              f"{body_size} bytes")
        for name, r in (("bare flask", bare_result), ("kompas serve", kompas_result)):
            print(f"  {name:13} {r['rps']:9.1f} req/s   p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   "
                  f"errors {r['errors']}")
        print(f"  ratio kompas/bare: {ratio:.2f}   (target ≥ 0.50)")
        bare_cpu = median_of(bare_runs, "server_us")
        kompas_cpu = [median_of(kompas_runs, "server_us"), median_of(kompas_runs, "database_us")]
        print(f"  diagnostic, CPU per request (medians): bare {bare_cpu:.0f} µs; kompas {sum(kompas_cpu):.0f} µs "
              f"(receivers {kompas_cpu[0]:.0f}" + (f" + PostgreSQL {kompas_cpu[1]:.0f}" if pg_name else "") +
              f"), a CPU ratio of {bare_cpu / sum(kompas_cpu):.2f}; besides, Kompas's delivery worker used "
              f"{median_of(kompas_runs, 'worker_us'):.0f} µs per request of what the receivers left"
              + (" (its PostgreSQL queries are in the PostgreSQL figure)" if pg_name else "") +
              f"; machine idle during the rounds: bare {median_of(bare_runs, 'idle'):.0%}, "
              f"kompas {median_of(kompas_runs, 'idle'):.0%}")
        spread = lambda r: "/".join(map(str, r["spread"] or [])) or "?"  # noqa: E731
        print("  each round, bare | kompas req/s (connections per gunicorn worker): " + "; ".join(
            f"{b['rps']:.0f} ({spread(b)}) | {k['rps']:.0f} ({spread(k)})" for b, k in zip(bare_runs, kompas_runs)))
        print(f"  acknowledged {acked}; orders in report after drain: {report['kpis']['orders']} "
              f"(expected {low}…{high}); drain took {drain_seconds:.1f} s after the last round "
              f"({', '.join(f'{b:.1f}' for b in between) or '-'} s after the others)")
        print(f"  reproduce: .venv/bin/python benchmarks/ingest.py --db {args.db}")
        if not low <= report["kpis"]["orders"] <= high or kompas_result["errors"]:
            sys.exit("FAILED: lost or refused deliveries")
    finally:
        if pg_name:
            import psycopg
            with psycopg.connect(args.pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
