"""Benchmark: requests per second of the order pages against a trivial view, under gunicorn + wrk.

    .venv/bin/python bench/throughput.py                  # 1,000,000 orders, SQLite and PostgreSQL
    .venv/bin/python bench/throughput.py --compare main~3 # that revision's app/ side by side
    .venv/bin/python bench/throughput.py --rows 100000 --db sqlite --duration 3

Seeds (once; reused from ~/.cache/orderdesk/bench/) N orders, starts gunicorn with 2 workers as
`invoke up` does (production settings over loopback, JSON access log to a file), makes a viewer
with the app's own commands, signs it in through /auth/sign-in (CSRF token and all) and issues
it an API token. The settings in bench/trivialsite add three trivial views that do nothing but
pass the app's middleware: one anyone may see, one behind the session and one under /api behind
the token. wrk (Debian) sends the session cookie to the pages and the bearer token to /api, and
counts every answer that is not a 200 (bench/status.lua): a redirect to the sign-in page or a
401 stops the run.

Each case runs right after the trivial view behind the same sign-in, on the same app: list page 1
and the list 40,000 pages deep after the session's, /api/orders after the token's, and each
signed-in trivial view after the anonymous one (the sign-in's own cost). Cases and app versions
alternate so a noisy machine hurts each alike. The current app is served twice: as configured,
where a repeated page comes from the worker's page cache (orders/pagecache.py), and "uncached"
(ORDERS_PAGE_CACHE_ENTRIES=0), which makes every page afresh. Prints req/s, p50, p99, errors and
each case as the median ratio to the run just before it (goal: kept list and API >= 0.60 of the
signed-in trivial view; deep page p99 <= 1.5x page 1).

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
import statistics
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "bench"
sys.path.insert(0, str(REPO_ROOT))

from ops.core import processes, web  # noqa: E402
from ops.core.run import Runner  # noqa: E402
from testkit.pgcluster import cluster_at  # noqa: E402
from testkit.support import free_port  # noqa: E402

CACHE = Path(os.environ.get("ORDERDESK_CACHE", Path.home() / ".cache" / "orderdesk")) / "bench"
PAGE_SIZE = 25
DEEP_PAGE = 40_000
STATUS_SCRIPT = BENCH_DIR / "status.lua"
# One key for every server of a run: a session signed in on one must be valid on the others.
SECRET_KEY = secrets.token_urlsafe(50)
BENCH_USER = "bench-viewer"
KEPT_GOAL = 0.60


@dataclass(frozen=True)
class Case:
    """A request to measure, how it is signed in, and the case whose run just before is its
    yardstick (None: a yardstick only)."""

    name: str
    path: str
    sign_in: str  # "anonymous", "session" (the cookie) or "token" (Authorization: Bearer)
    baseline: Case | None = None
    # False: the page cache cannot change it, so the uncached app need not measure it again.
    cached: bool = True


ANONYMOUS = Case("trivial, anonymous", "/bench/anonymous", "anonymous")
TRIVIAL_SESSION = Case("trivial, session", "/bench/trivial", "session", ANONYMOUS, cached=False)
TRIVIAL_TOKEN = Case("trivial, token", "/api/bench/trivial", "token", ANONYMOUS, cached=False)
LIST = Case("list page 1", "/", "session", TRIVIAL_SESSION)
API = Case("/api/orders", "/api/orders", "token", TRIVIAL_TOKEN)


def deep_page_of(rows: int) -> int:
    """The deep page a database of this size has (DEEP_PAGE at most), from now on this run's."""
    global DEEP_PAGE  # noqa: PLW0603 - one run, one database size
    DEEP_PAGE = min(DEEP_PAGE, rows // PAGE_SIZE)
    return DEEP_PAGE


def deep_case() -> Case:
    return Case(f"list page {DEEP_PAGE:,}", "/?{deep}", "session", TRIVIAL_SESSION)


def cases() -> list[Case]:
    """The measured cases (each with its yardstick): the pages, then the sign-in's own cost."""
    return [LIST, deep_case(), API, TRIVIAL_SESSION, TRIVIAL_TOKEN]


@dataclass(frozen=True)
class Credentials:
    session_cookie: str  # "name=value", as a browser sends it
    token: str

    def headers(self, sign_in: str) -> dict[str, str]:
        if sign_in == "session":
            return {"Cookie": self.session_cookie}
        if sign_in == "token":
            return {"Authorization": f"Bearer {self.token}"}
        return {}


@dataclass
class App:
    label: str
    app_dir: Path
    env: dict[str, str]
    url: str = ""
    process: processes.Process | None = None
    deep_query: str = ""
    # False: serve only the cases the page cache changes (the "uncached" copy).
    all_cases: bool = True
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


def app_python(app_dir: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Python run with these arguments in an app/ (its own on the path); its output, or the
    end of its errors as this script's exit."""
    done = Runner().run(
        [sys.executable, *args],
        cwd=app_dir,
        env=env,
        replace_env=True,
        input=stdin,
        # Seeding the orders table is the longest of these.
        timeout=1800,
        warn=True,
    )
    if done.exited != 0:
        raise SystemExit(f"python {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def manage(app_dir: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return app_python(app_dir, env, "manage.py", *args, stdin=stdin)


def base_env(database_url: str, static_root: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "PYTHONPATH": str(BENCH_DIR),
        "DJANGO_SETTINGS_MODULE": "trivialsite.settings",
        "DJANGO_SECRET_KEY": SECRET_KEY,
        "ORDERDESK_AUTH": "local",
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
    app.process = processes.spawn(
        "gunicorn",
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "orderdesk.wsgi"],
        log=log,
        cwd=app.app_dir,
        env=env,
        replace_env=True,
    )
    try:
        try:
            processes.wait_ready(
                app.process,
                lambda: web.get(f"{app.url}/readyz", timeout=2).status_code == 200,
                what=f"gunicorn ready at {app.url}/readyz",
                timeout=60,
                interval=0.1,
                errors=(requests.RequestException,),
            )
        except processes.ProcessError as exc:
            raise SystemExit(str(exc)) from None
        yield app
    finally:
        processes.stop([app.process], grace=30)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    latency = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if latency is None:
        raise SystemExit(f"wrk printed a latency of {text!r}: not a number of us, ms or s")
    number, unit = latency.groups()
    return float(number) * _UNITS[unit]


def _wrk_figure(pattern: str, out: str) -> str:
    """The first group of `pattern` in wrk's output; a clear stop if wrk did not print it."""
    found = re.search(pattern, out)
    if found is None:
        raise SystemExit(f"wrk printed nothing that matches {pattern!r}:\n{out}")
    return found[1]


def sign_in_bench_user(app: App) -> Credentials:
    """A viewer made by the app's own commands, signed in through the sign-in page as a browser
    is, and a read-only API token of its own: what a person and a script send."""
    password = secrets.token_urlsafe(24)
    manage(
        app.app_dir,
        app.env,
        "orderdesk_user",
        BENCH_USER,
        "--role",
        "viewer",
        "--password-stdin",
        stdin=password + "\n",
    )
    issued = manage(
        app.app_dir, app.env, "orderdesk_token", BENCH_USER, "--read-only", "--days", "1"
    )
    token = issued.strip().splitlines()[-1].split()[-1]
    return Credentials(sign_in(app.url, BENCH_USER, password), token)


def sign_in(url: str, username: str, password: str) -> str:
    """The session cookie ("name=value") the sign-in form sets, posted with its CSRF token.

    Production's cookies are Secure (__Host-), so a cookie jar would not send them over the
    loopback's plain HTTP, where TLS has ended as it does at the gateway: carried by hand."""
    import requests

    page = requests.get(f"{url}/auth/sign-in", timeout=30)
    csrf_field = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    if page.status_code != 200 or csrf_field is None or not page.cookies:
        raise SystemExit(f"GET {url}/auth/sign-in: {page.status_code}, no form with a CSRF token")
    answer = requests.post(
        f"{url}/auth/sign-in",
        data={"username": username, "password": password, "csrfmiddlewaretoken": csrf_field[1]},
        headers={"Cookie": "; ".join(f"{c.name}={c.value}" for c in page.cookies)},
        allow_redirects=False,
        timeout=30,
    )
    session = [c for c in answer.cookies if c.name.endswith("orderdesk_session")]
    if answer.status_code != 302 or len(session) != 1:
        raise SystemExit(
            f"signing {username} in at {url}/auth/sign-in answered {answer.status_code} "
            f"with cookies {[c.name for c in answer.cookies]}, not 302 and a session:\n"
            f"{answer.text[:1000]}"
        )
    return f"{session[0].name}={session[0].value}"


def check_answers(url: str, headers: Mapping[str, str]) -> None:
    """A 200 for this request as wrk will send it, or this script's exit naming what came back."""
    import requests

    answer = requests.get(url, headers=dict(headers), allow_redirects=False, timeout=30)
    if answer.status_code != 200:
        where = answer.headers.get("Location", "")
        raise SystemExit(
            f"GET {url} answered {answer.status_code}{' to ' + where if where else ''}, "
            f"not 200: the benchmark would measure that instead of the page "
            f"(headers sent: {', '.join(headers) or 'none'})"
        )


def wrk(
    url: str,
    duration: int,
    connections: int,
    server: list[int],
    headers: Mapping[str, str],
) -> dict[str, float]:
    cpu_before = cpu_seconds(server)
    header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
    done = Runner().run(
        [
            *("wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"),
            *("-s", str(STATUS_SCRIPT), *header_args, url),
        ],
        timeout=duration + 60,
    )
    cpu = cpu_seconds(server) - cpu_before
    out = done.stdout
    requests = int(_wrk_figure(r"(\d+) requests in", out))
    statuses = re.search(r"statuses: 200=(\d+) other=(\d+) example=(\d+)", out)
    if statuses is None:
        raise SystemExit(f"wrk printed no status counts ({STATUS_SCRIPT}):\n{out}")
    ok, other, example = (int(n) for n in statuses.groups())
    if other or ok == 0:
        raise SystemExit(
            f"{url}: {other} of {ok + other} answers were not 200 (one was {example}); "
            "the figures would measure that, not the page"
        )
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
        out,
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return {
        "rps": float(_wrk_figure(r"Requests/sec:\s+([0-9.]+)", out)),
        "p50": _ms(_wrk_figure(r"\s50%\s+(\S+)", out)),
        "p99": _ms(_wrk_figure(r"\s99%\s+(\S+)", out)),
        "errors": errors,
        "cpu_ms": cpu / max(requests, 1) * 1000,
    }


def yardstick(case: Case) -> Case:
    if case.baseline is None:
        raise ValueError(f"{case.name} is a yardstick, not a measured case")
    return case.baseline


def app_cases(app: App) -> list[Case]:
    return [case for case in cases() if app.all_cases or case.cached]


def case_url(app: App, case: Case) -> str:
    return app.url + case.path.format(deep=app.deep_query)


def measure(
    apps: list[App], credentials: Credentials, rounds: int, duration: int, connections: int
) -> None:
    """Each case runs right after a run of its yardstick on the same app: the pair's ratio is
    what counts, so the machine's load drifting between minutes hurts no ratio."""
    for app in apps:
        for case in [ANONYMOUS, *app_cases(app)]:
            headers = credentials.headers(case.sign_in)
            check_answers(case_url(app, case), headers)
            # Warms every worker's caches and connections, and checks the statuses under load.
            wrk(case_url(app, case), 1, connections, app.server_pids(), headers)
    for round_ in range(rounds):
        for case in cases():
            for app in apps if round_ % 2 == 0 else reversed(apps):
                if case not in app_cases(app):
                    continue
                baseline = yardstick(case)
                before, result = (
                    wrk(
                        case_url(app, measured),
                        duration,
                        connections,
                        app.server_pids(),
                        credentials.headers(measured.sign_in),
                    )
                    for measured in (baseline, case)
                )
                result["ratio"] = result["rps"] / before["rps"]
                result["cpu_ratio"] = before["cpu_ms"] / result["cpu_ms"]
                app.results.setdefault(case.name, []).append(result)
                # A yardstick's own figures, from every run of it (ratios only where measured).
                app.results.setdefault(baseline.name, []).append(before)


def median(results: list[dict[str, float]], key: str) -> float:
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else float("nan")


def report(label: str, rows: int, apps: list[App]) -> None:
    print(f"\n{label}, {rows:,} orders, gunicorn 2 workers (median of rounds)")
    print("÷ yardstick: median of each run's req/s over its yardstick's run just before it")
    print("cpu ms: server CPU per request (gunicorn + database server); cpu ÷: yardstick's over it")
    print(
        f"{'app':<10}{'case':<20}{'sign-in':<10}{'req/s':>7}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'errors':>7}{'÷ yardstick':>12}  {'yardstick':<20}{'cpu ms':>7}{'cpu ÷':>7}"
    )
    order = [ANONYMOUS, TRIVIAL_SESSION, TRIVIAL_TOKEN, LIST, deep_case(), API]
    for app in apps:
        for case in order:
            results = app.results.get(case.name)
            if not results:
                continue
            ratio, cpu_ratio = "", ""
            if case.baseline and any("ratio" in r for r in results):
                ratio = f"{median(results, 'ratio'):.2f}"
                cpu_ratio = f"{median(results, 'cpu_ratio'):.2f}"
            print(
                f"{app.label:<10}{case.name:<20}{case.sign_in:<10}{median(results, 'rps'):>7.0f}"
                f"{median(results, 'p50'):>8.2f}{median(results, 'p99'):>8.2f}"
                f"{int(sum(r['errors'] for r in results)):>7}{ratio:>12}  "
                f"{case.baseline.name if ratio and case.baseline else '':<20}"
                f"{median(results, 'cpu_ms'):>7.3f}{cpu_ratio:>7}"
            )
    print()
    for app in apps:
        for case in (LIST, API):
            page_ratio = median(app.results[case.name], "ratio")
            goal = ""
            if app.all_cases:  # the goal is for kept pages; "uncached" shows the fallback
                verdict = "meets" if page_ratio >= KEPT_GOAL else "BELOW"
                goal = f" ({verdict} the goal >= {KEPT_GOAL:.2f})"
            print(f"{app.label:<10}{case.name} ÷ signed-in trivial: {page_ratio:.2f}{goal}")
        deep = median(app.results[deep_case().name], "p99")
        first = median(app.results[LIST.name], "p99")
        print(f"{app.label:<10}deep/first p99: {deep / first:.2f} (goal <= 1.5)")
        if app.all_cases:
            for case in (TRIVIAL_SESSION, TRIVIAL_TOKEN):
                cost = median(app.results[case.name], "ratio")
                print(f"{app.label:<10}sign-in's own cost, {case.name} ÷ anonymous: {cost:.2f}")


def app_copy(revision: str, into: Path) -> Path:
    """app/ as it was at REVISION, so its numbers come from the same machine, run and database."""
    tarball = into / "app.tar"
    runner = Runner()
    runner.run(
        ["git", "archive", f"--output={tarball}", revision, "app"], cwd=REPO_ROOT, timeout=120
    )
    runner.run(["tar", "-x", "-f", str(tarball), "-C", str(into)], timeout=120)
    tarball.unlink()
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
    apps.append(replace(current, label="uncached", env=uncached_env, all_cases=False, results={}))
    with contextlib.ExitStack() as stack:
        for app in apps:
            stack.enter_context(serving(app, workdir, workers=2))
        # One session and token for every server: they share the database and SECRET_KEY.
        credentials = sign_in_bench_user(current)
        measure(apps, credentials, args.rounds, args.duration, args.connections)
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
    deep_page_of(args.rows)
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
