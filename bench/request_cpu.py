"""CPU time per request of the order pages and a trivial view, in-process, through Django's WSGI
handler and the full middleware stack (no gunicorn, no wrk, no network).

    .venv/bin/python bench/request_cpu.py                   # the 1,000,000-order SQLite cache
    .venv/bin/python bench/request_cpu.py --compare 1f14c5b # that revision's app/ side by side

Process CPU time, unlike wrk's req/s, barely moves when other jobs load the machine, so it shows
what a change removed. It leaves out gunicorn and its access log (the same for every view) and,
for PostgreSQL, the server's own work: use it on SQLite (the database's work is in-process), next
to bench/throughput.py's figures. Reuses bench/throughput.py's seeded database; seeds nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path
from typing import Any

import throughput  # bench/ is this script's own directory, first on the path

REPO_ROOT = throughput.REPO_ROOT
CACHE = throughput.CACHE
DEEP_PAGE = throughput.DEEP_PAGE
PAGE_SIZE = throughput.PAGE_SIZE


def measure(requests: int) -> dict[str, float]:
    """Milliseconds of CPU per request for each case, in this process (app on sys.path)."""
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    from orders.models import Order
    from orders.pagination import Cursor

    handler = WSGIHandler()
    row = Order.objects.order_by("-created_at", "-id")[(DEEP_PAGE - 1) * PAGE_SIZE - 1]
    cases = {
        "trivial view": ("/bench/trivial", ""),
        "list page 1": ("/", ""),
        f"list page {DEEP_PAGE:,}": ("/", "after=" + urllib.parse.quote(Cursor.of(row).encode())),
        "/api/orders": ("/api/orders", ""),
    }

    def call(path: str, query: str) -> None:
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
        }
        status: list[str] = []

        def start_response(line: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(line)
            return lambda data: None

        b"".join(handler(environ, start_response))
        if not status[0].startswith("200"):
            raise SystemExit(f"{path}?{query} answered {status[0]}")

    result = {}
    for name, (path, query) in cases.items():
        for _ in range(20):  # warm caches and the connection
            call(path, query)
        started = time.process_time()
        for _ in range(requests):
            call(path, query)
        result[name] = (time.process_time() - started) / requests * 1000
    return result


def run(app_dir: Path, database_url: str, requests: int, static_root: Path) -> dict[str, float]:
    """measure() in a fresh interpreter with that app/ first on the path, production settings."""
    env = throughput.base_env(database_url, static_root) | {"LOG_LEVEL": "WARNING"}
    throughput.manage(app_dir, env, "collectstatic", "--noinput", "-v0")
    code = f"import json, request_cpu; print(json.dumps(request_cpu.measure({requests})))"
    out = throughput.app_python(app_dir, env, "-c", code)
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--compare", metavar="REV", help="also measure app/ at this git revision")
    parser.add_argument("--requests", type=int, default=500, help="requests per case")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    database = CACHE / f"sqlite-{args.rows}.sqlite3"
    if not database.exists():
        parser.error(f"{database} is missing: run bench/throughput.py --db sqlite once to seed it")
    with tempfile.TemporaryDirectory(prefix="orderdesk-cpu-") as temp:
        apps = {"current": REPO_ROOT / "app"}
        if args.compare:
            apps = {args.compare: throughput.app_copy(args.compare, Path(temp)), **apps}
        results = {
            label: run(app_dir, f"sqlite:///{database}", args.requests, Path(temp) / f"static-{n}")
            for n, (label, app_dir) in enumerate(apps.items())
        }
    print(f"\nsqlite, {args.rows:,} orders: CPU ms per request, in-process (no gunicorn)")
    print(f"{'app':<14}{'case':<20}{'cpu ms':>9}{'trivial ÷ case':>16}")
    for label, result in results.items():
        for name, ms in result.items():
            print(f"{label:<14}{name:<20}{ms:>9.3f}{result['trivial view'] / ms:>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
