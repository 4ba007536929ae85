"""CPU time per request of the order pages and trivial views, in-process, through Django's WSGI
handler and the full middleware stack (no gunicorn, no wrk, no network), signed in as
bench/throughput.py's viewer: a session made by Django's own login machinery for the pages, an
API token for /api, and the anonymous trivial view beside them (the sign-in's own cost).

    .venv/bin/python bench/request_cpu.py                   # the 1,000,000-order SQLite cache
    .venv/bin/python bench/request_cpu.py --compare 1f14c5b # that revision's app/ side by side
    .venv/bin/python bench/request_cpu.py --profile "list page 1"  # where that case's time goes

Process CPU time, unlike wrk's req/s, barely moves when other jobs load the machine, so it shows
what a change removed. It leaves out gunicorn and its access log (the same for every view) and,
for PostgreSQL, the server's own work: use it on SQLite (the database's work is in-process), next
to bench/throughput.py's figures. Reuses bench/throughput.py's seeded database; seeds nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import secrets
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import throughput  # bench/ is this script's own directory, first on the path

REPO_ROOT = throughput.REPO_ROOT
CACHE = throughput.CACHE
PAGE_SIZE = throughput.PAGE_SIZE


def bench_credentials() -> throughput.Credentials:
    """The benchmark's viewer signed in as the sign-in form does it (authenticate(), then
    login() into a session of the configured engine), and a read-only API token of its own."""
    from importlib import import_module

    from accounts.models import ApiToken
    from accounts.roles import VIEWER, set_role
    from django.conf import settings
    from django.contrib.auth import authenticate, get_user_model, login
    from django.test import RequestFactory

    user, _ = get_user_model().objects.get_or_create(username=throughput.BENCH_USER)
    password = secrets.token_urlsafe(24)
    user.set_password(password)
    user.save()
    set_role(user, VIEWER)
    request = RequestFactory().post("/auth/sign-in", HTTP_HOST="127.0.0.1")
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    signed_in = authenticate(request, username=throughput.BENCH_USER, password=password)
    if signed_in is None:
        raise SystemExit(f"{throughput.BENCH_USER} could not sign in (locked out? axes_reset)")
    login(request, signed_in)
    request.session.save()
    _, token = ApiToken.issue(user, "bench request_cpu", read_only=True, days=1)
    cookie = f"{settings.SESSION_COOKIE_NAME}={request.session.session_key}"
    return throughput.Credentials(cookie, token)


def measure(requests: int, rows: int, profile: str = "") -> dict[str, float]:
    """Milliseconds of CPU per request for each case, in this process (app on sys.path);
    with `profile`, that case's requests run under cProfile and its top entries are printed."""
    deep_page = throughput.deep_page_of(rows)
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from orders.models import Order
    from orders.pagination import Cursor

    handler = WSGIHandler()
    row = Order.objects.order_by("-created_at", "-id")[(deep_page - 1) * PAGE_SIZE - 1]
    deep = "after=" + urllib.parse.quote(Cursor.of(row).encode())
    credentials = bench_credentials()
    cases = [throughput.ANONYMOUS, *reversed(throughput.cases())]

    def call(path: str, query: str, headers: dict[str, str]) -> None:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80",
            "HTTP_HOST": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": sys.stderr,
            **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
        }
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(line)
            return lambda data: None

        b"".join(handler(environ, start_response))
        if not status[0].startswith("200"):
            raise SystemExit(f"{path}?{query} answered {status[0]}, not 200 (signed in?)")

    result = {}
    for case in cases:
        path, _, query = case.path.format(deep=deep).partition("?")
        headers = credentials.headers(case.sign_in)
        for _ in range(20):  # warm caches and the connection
            call(path, query, headers)
        profiler = cProfile.Profile() if case.name == profile else None
        started = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(requests):
            call(path, query, headers)
        if profiler:
            profiler.disable()
        result[case.name] = (time.process_time() - started) / requests * 1000
        if profiler:
            # Before the last line, which is the figures' JSON.
            stats = pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative")
            stats.print_stats(45)
    return result


def run(
    app_dir: Path, database_url: str, static_root: Path, args: argparse.Namespace
) -> dict[str, float]:
    """measure() in a fresh interpreter with that app/ first on the path, production settings."""
    env = throughput.base_env(database_url, static_root) | {"LOG_LEVEL": "WARNING"}
    throughput.manage(app_dir, env, "collectstatic", "--noinput", "-v0")
    code = (
        "import json, request_cpu; "
        f"print(json.dumps(request_cpu.measure({args.requests}, {args.rows}, {args.profile!r})))"
    )
    *profile, figures = throughput.app_python(app_dir, env, "-c", code).strip().splitlines()
    if profile:
        print("\n".join(profile))
    return json.loads(figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", metavar="REV", help="also measure app/ at this git revision")
    parser.add_argument("--requests", type=int, default=500, help="requests per case")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument(
        "--profile",
        metavar="CASE",
        default="",
        help="run this case under cProfile and print where its time goes (e.g. 'list page 1')",
    )
    args = parser.parse_args()
    throughput.deep_page_of(args.rows)
    names = [throughput.ANONYMOUS.name, *(case.name for case in throughput.cases())]
    if args.profile and args.profile not in names:
        parser.error(f"--profile takes one of: {', '.join(names)}")
    database = CACHE / f"sqlite-{args.rows}.sqlite3"
    if not database.exists():
        parser.error(f"{database} is missing: run bench/throughput.py --db sqlite once to seed it")
    with tempfile.TemporaryDirectory(prefix="orderdesk-cpu-") as temp:
        apps = {"current": REPO_ROOT / "app"}
        if args.compare:
            apps = {args.compare: throughput.app_copy(args.compare, Path(temp)), **apps}
        results = {
            label: run(
                app_dir,
                f"sqlite:///{database}",
                Path(temp) / f"static-{n}",
                args,
            )
            for n, (label, app_dir) in enumerate(apps.items())
        }
    print(f"\nsqlite, {args.rows:,} orders: CPU ms per request, in-process (no gunicorn)")
    if args.profile:
        print(f"({args.profile} ran under cProfile: its figure is inflated, its ratio meaningless)")
    print(f"{'app':<14}{'case':<20}{'sign-in':<10}{'cpu ms':>8}{'yardstick ÷ case':>18}  yardstick")
    cases = {case.name: case for case in [throughput.ANONYMOUS, *throughput.cases()]}
    for label, result in results.items():
        for name, ms in result.items():
            case = cases[name]
            ratio = f"{result[case.baseline.name] / ms:.2f}" if case.baseline else ""
            yardstick = case.baseline.name if case.baseline else ""
            print(f"{label:<14}{name:<20}{case.sign_in:<10}{ms:>8.3f}{ratio:>18}  {yardstick}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
