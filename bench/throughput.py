"""Benchmark: requests per second of the order pages against a trivial view, under gunicorn + wrk.

    .venv/bin/python bench/throughput.py                  # 1,000,000 orders, SQLite and PostgreSQL
    .venv/bin/python bench/throughput.py --compare main~3 # that revision's app/ side by side
    .venv/bin/python bench/throughput.py --rows 100000 --db sqlite --duration 3

Seeds (once; reused from ~/.cache/orderdesk/bench/) N orders, starts gunicorn with 2 workers as
`invoke up` does (production settings over loopback, JSON access log to a file; the settings in
bench/trivialsite add /bench/trivial, a view that does nothing but pass the same middleware), and
runs wrk (Debian) against list page 1, the list 40,000 pages deep and /api/orders, each right
after a run of the trivial view on the same app, alternating between cases and between app
versions so a noisy machine hurts each alike. The current app is served twice: as configured,
where a repeated page comes from the worker's page cache (orders/pagecache.py), and "uncached"
(ORDERS_PAGE_CACHE_ENTRIES=0), which makes every page afresh. Prints req/s, p50, p99, errors,
and each case as the median ratio to the trivial run just before it (goal: list and API >= 0.50;
deep page p99 <= 1.5x page 1).

req/s moves with whatever else loads the machine. Beside it, the CPU the server spent per request
(the gunicorn processes, plus the PostgreSQL server's): each request's own work, which the load
of other jobs barely changes; its ratio is what req/s would show on an idle machine whose cores
serve only these requests (wrk itself costs ~0.03 ms a request).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
sys.path.insert(0, str(REPO_ROOT))

from ops.core.wait import WaitTimeout  # noqa: E402
from tests.pgcluster import cluster_at  # noqa: E402
from tests.support import free_port, wait_for_http  # noqa: E402

CACHE = Path(os.environ.get("ORDERDESK_CACHE", Path.home() / ".cache" / "orderdesk")) / "bench"
PAGE_SIZE = 25
DEEP_PAGE = 40_000
TRIVIAL = "/bench/trivial"


@dataclass
class App:
    label: str
    app_dir: Path
    env: dict[str, str]
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    deep_query: str = ""
    results: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    # The database server's main process, whose CPU counts as the app's (PostgreSQL).
    database_pid: int | None = None

    def server_pids(self) -> list[int]:
        pids = [self.process.pid] if self.process else []
        return pids + ([self.database_pid] if self.database_pid else [])


def cpu_seconds(roots: list[int]) -> float:
    """CPU time so far of these processes and their descendants, reaped ones included."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone since the listing
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        # utime, stime, and cutime, cstime: a reaped child's time moves into its parent's.
        times[pid] = sum(int(n) for n in fields[11:15])
    tree, todo = set(), [pid for pid in roots if pid in times]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return sum(times[pid] for pid in tree) / os.sysconf("SC_CLK_TCK")


def app_python(app_dir: Path, env: dict[str, str], *args: str) -> str:
    """Python run with these arguments in an app/ (its own on the path); its output, or the
    end of its errors as this script's exit."""
    done = subprocess.run(
        [sys.executable, *args],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"python {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def manage(app_dir: Path, env: dict[str, str], *args: str) -> str:
    return app_python(app_dir, env, "manage.py", *args)


def base_env(database_url: str, static_root: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(BENCH_DIR),
        "DJANGO_SETTINGS_MODULE": "trivialsite.settings",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "ORDERDESK_CARD_KEY": "bench-card-key",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "STATIC_ROOT": str(static_root),
    }


def count_orders(app_dir: Path, env: dict[str, str]) -> int:
    out = manage(
        app_dir,
        env,
        "shell",
        "-c",
        "from orders.models import Order; print(Order.objects.count())",
    )
    return int(out.split()[-1])


def seed(app_dir: Path, env: dict[str, str], rows: int, label: str) -> None:
    """Migrate with the current app, then seed once; a cached database is reused as it is."""
    manage(app_dir, env, "migrate", "--noinput")
    have = count_orders(app_dir, env)
    if have == rows:
        print(f"{label}: reusing {rows:,} cached orders", flush=True)
    elif have == 0:
        print(f"{label}: seeding {rows:,} orders (once; cached in {CACHE})", flush=True)
        started = time.perf_counter()
        manage(app_dir, env, "seed_orders", str(rows), "--seed", "1", "--batch-size", "20000")
        print(f"{label}: seeded in {time.perf_counter() - started:.0f}s", flush=True)
    else:
        raise SystemExit(
            f"{label}: the cached database holds {have:,} orders, not {rows:,}; "
            f"delete it under {CACHE} and run again"
        )
    is_sqlite = env["DATABASE_URL"].startswith("sqlite")
    statement = "ANALYZE" if is_sqlite else "ANALYZE orders_order"
    manage(
        app_dir,
        env,
        "shell",
        "-c",
        f"from django.db import connection; connection.cursor().execute({statement!r})",
    )


def deep_cursor_query(app: App) -> str:
    """The link a user follows after clicking Next DEEP_PAGE - 1 times, made by that app's code."""
    script = (
        "from orders.models import Order\n"
        "from orders.pagination import Cursor\n"
        f"row = Order.objects.order_by('-created_at', '-id')[{(DEEP_PAGE - 1) * PAGE_SIZE - 1}]\n"
        "print(Cursor.of(row).encode())"
    )
    cursor = manage(app.app_dir, app.env, "shell", "-c", script).split()[-1]
    return "after=" + urllib.parse.quote(cursor)


@contextlib.contextmanager
def serving(app: App, workdir: Path, workers: int) -> Iterator[App]:
    port = free_port()
    app.url = f"http://127.0.0.1:{port}"
    metrics = workdir / f"metrics-{app.label}"
    metrics.mkdir()
    env = app.env | {
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    log = workdir / f"gunicorn-{app.label}.log"
    with log.open("wb") as out:
        app.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "orderdesk.wsgi"],
            cwd=app.app_dir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_http(f"{app.url}/readyz", app.process, "gunicorn", timeout=60)
        except (AssertionError, WaitTimeout) as exc:
            raise SystemExit(f"{exc}:\n{log.read_text()[-3000:]}") from None
        yield app
    finally:
        app.process.send_signal(signal.SIGTERM)
        try:
            app.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.process.kill()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def wrk(url: str, duration: int, connections: int, server: list[int]) -> dict[str, float]:
    cpu_before = cpu_seconds(server)
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    )
    cpu = cpu_seconds(server) - cpu_before
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
        out,
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "rps": float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "p99": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        "errors": errors,
        "cpu_ms": cpu / max(requests, 1) * 1000,
    }


def measure(apps: list[App], rounds: int, duration: int, connections: int) -> None:
    """Each case runs right after a run of the trivial view on the same app: the pair's ratio
    is what counts, so the machine's load drifting between minutes hurts no ratio."""
    cases = {
        "list page 1": "/",
        f"list page {DEEP_PAGE:,}": "/?{deep}",
        "/api/orders": "/api/orders",
    }
    for app in apps:
        for path in [TRIVIAL, *cases.values()]:  # warm every worker's caches and connections
            wrk(app.url + path.format(deep=app.deep_query), 1, connections, app.server_pids())
    for round_ in range(rounds):
        for name, path in cases.items():
            for app in apps if round_ % 2 == 0 else reversed(apps):
                server = app.server_pids()
                trivial = wrk(app.url + TRIVIAL, duration, connections, server)
                url = app.url + path.format(deep=app.deep_query)
                result = wrk(url, duration, connections, server)
                result["ratio"] = result["rps"] / trivial["rps"]
                result["cpu_ratio"] = trivial["cpu_ms"] / result["cpu_ms"]
                trivial |= {"ratio": 1.0, "cpu_ratio": 1.0}
                app.results.setdefault("trivial view", []).append(trivial)
                app.results.setdefault(name, []).append(result)


def report(label: str, rows: int, apps: list[App]) -> None:
    print(f"\n{label}, {rows:,} orders, gunicorn 2 workers (median of rounds)")
    print("÷ trivial: median of each run's req/s over the trivial run just before it")
    print("cpu ms: server CPU per request (gunicorn + database server); cpu ÷: trivial's over it")
    print(
        f"{'app':<14}{'case':<20}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
        f"{'÷ trivial':>11}{'cpu ms':>9}{'cpu ÷':>7}"
    )
    for app in apps:
        for name, results in app.results.items():
            rps = statistics.median(r["rps"] for r in results)
            p50 = statistics.median(r["p50"] for r in results)
            p99 = statistics.median(r["p99"] for r in results)
            errors = int(sum(r["errors"] for r in results))
            ratio = statistics.median(r["ratio"] for r in results)
            cpu = statistics.median(r["cpu_ms"] for r in results)
            cpu_ratio = statistics.median(r["cpu_ratio"] for r in results)
            print(
                f"{app.label:<14}{name:<20}{rps:>9.0f}{p50:>9.2f}{p99:>9.2f}{errors:>8}"
                f"{ratio:>11.2f}{cpu:>9.3f}{cpu_ratio:>7.2f}"
            )
        deep = statistics.median(r["p99"] for r in app.results[f"list page {DEEP_PAGE:,}"])
        first = statistics.median(r["p99"] for r in app.results["list page 1"])
        print(f"{app.label:<14}deep/first p99: {deep / first:.2f} (goal <= 1.5)")


def app_copy(revision: str, into: Path) -> Path:
    """app/ as it was at REVISION, so its numbers come from the same machine, run and database."""
    archive = subprocess.run(
        ["git", "archive", revision, "app"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "app"


def run(
    args: argparse.Namespace,
    db: str,
    database_url: str,
    workdir: Path,
    database_pid: int | None = None,
) -> None:
    static_root = workdir / "static"
    current = App("current", REPO_ROOT / "app", base_env(database_url, static_root))
    seed(current.app_dir, current.env, args.rows, db)
    apps = [current]
    if args.compare:
        old_dir = app_copy(args.compare, workdir)
        old_env = base_env(database_url, workdir / "static-old")
        apps.insert(0, App(args.compare, old_dir, old_env))
    for app in apps:
        manage(app.app_dir, app.env, "collectstatic", "--noinput")
        app.deep_query = deep_cursor_query(app)
        app.database_pid = database_pid
    # The same app, static files and deep link, making every page afresh: what a page nobody
    # asked for lately costs.
    uncached_env = current.env | {"ORDERS_PAGE_CACHE_ENTRIES": "0"}
    apps.append(replace(current, label="uncached", env=uncached_env, results={}))
    with contextlib.ExitStack() as stack:
        for app in apps:
            stack.enter_context(serving(app, workdir, workers=2))
        measure(apps, args.rounds, args.duration, args.connections)
    report(db, args.rows, apps)


def postgres_cache() -> Path:
    """Where the seeded cluster is kept: as root the server runs as postgres, which cannot
    enter /root, so the cluster lives in that user's home instead."""
    if os.geteuid() == 0:
        return Path(pwd.getpwnam("postgres").pw_dir) / "orderdesk-bench"
    return CACHE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--compare", metavar="REV", help="also serve app/ at this git revision")
    parser.add_argument("--rounds", type=int, default=3, help="wrk runs per case and app")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    if args.rows < 2 * PAGE_SIZE:
        parser.error(f"--rows must be at least two pages ({2 * PAGE_SIZE})")
    global DEEP_PAGE  # noqa: PLW0603 - one run, one database size
    DEEP_PAGE = min(DEEP_PAGE, args.rows // PAGE_SIZE)
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    CACHE.mkdir(parents=True, exist_ok=True)
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    for db in databases:
        with tempfile.TemporaryDirectory(prefix="orderdesk-bench-") as temp:
            workdir = Path(temp)
            if db == "sqlite":
                run(args, db, f"sqlite:///{CACHE / f'sqlite-{args.rows}.sqlite3'}", workdir)
                continue
            try:
                base = postgres_cache() / f"postgresql-{args.rows}"
                with cluster_at(base) as cluster:
                    # postmaster.pid's first line: the server's main process.
                    pid = int((base / "data" / "postmaster.pid").read_text().split()[0])
                    run(args, db, cluster.url, workdir, database_pid=pid)
            except FileNotFoundError as exc:
                print(f"PostgreSQL skipped: {exc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
