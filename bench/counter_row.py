"""Benchmark: how many orders a second the change counter's one row lets PostgreSQL insert.

    .venv/bin/python bench/counter_row.py                  # 1, 4 and 16 connections, 8 s each
    .venv/bin/python bench/counter_row.py --seconds 20 --clients 1 4 16 64

Every insert into orders_order runs the statement trigger that updates the single row of
orders_changes (migrations 0003 and 0005), so concurrent writers queue on that row's lock until
each commits. This starts a throwaway PostgreSQL (testkit/pgcluster.py), migrates the app's schema
into it and runs pgbench (C, so the client is not the limit) with one INSERT per transaction:
  - "with trigger": as the app runs;
  - "no trigger": the same inserts with the trigger disabled, what the table alone allows;
  - "repeatable read": with the trigger, each transaction at REPEATABLE READ and no retries:
    the share that fails with a serialization failure is what orders.busy retries.
The throwaway server runs with fsync and synchronous_commit off (a commit costs no disk flush),
so the row is held for the shortest time it can be: a durable server holds it for a flush as
well, and its rate with many connections falls further towards 1 / flush time.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT)]

from ops.core.run import Runner  # noqa: E402
from testkit.pgcluster import Cluster, temporary_cluster  # noqa: E402

INSERT = """INSERT INTO orders_order (id, user_id, store_code, product_code, quantity, order_date,
 shipping_date, card_brand, card_last4, card_fingerprint, created_at, created_by_name)
 VALUES (gen_random_uuid(), 'bench', 'ST-1', 'SKU-1', 1, current_date, current_date, 'Visa',
 '4242', md5(random()::text), clock_timestamp(), '');
"""
REPEATABLE_READ = f"BEGIN ISOLATION LEVEL REPEATABLE READ;\n{INSERT}COMMIT;\n"


def migrate(cluster: Cluster) -> None:
    env = {"DJANGO_SETTINGS_MODULE": "orderdesk.settings.test", "DATABASE_URL": cluster.url}
    Runner().run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT / "app",
        env=env,
        timeout=300,
    )


def pgbench(cluster: Cluster, script: Path, clients: int, seconds: int) -> tuple[float, int, int]:
    """(transactions a second, committed, failed) of `clients` connections running `script`."""
    done = Runner().run(
        [
            *cluster.runner,
            str(cluster.bindir / "pgbench"),
            "-n",
            "-h",
            str(cluster.sockets),
            "-p",
            str(cluster.port),
            "-U",
            "orderdesk",
            "-c",
            str(clients),
            "-j",
            str(min(clients, os.cpu_count() or 1)),
            "-T",
            str(seconds),
            "-M",
            "prepared",
            "--max-tries=1",
            "-f",
            str(script),
            "orderdesk",
        ],
        timeout=seconds + 120,
        warn=True,
    )
    if done.exited not in (0, 2):
        raise RuntimeError(f"pgbench failed: {done.stderr.strip()}")
    output = done.stdout
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", output)
    processed = re.search(r"number of transactions actually processed: (\d+)", output)
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if tps is None or processed is None:
        raise RuntimeError(f"pgbench printed no rate:\n{output}\n{done.stderr}")
    return float(tps[1]), int(processed[1]), int(failed[1]) if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="orderdesk-bench-") as temp, temporary_cluster() as pg:
        scripts = Path(temp)
        # pgbench may run as the postgres user (as root, testkit/pgcluster.py): let it read them.
        os.chmod(scripts, 0o755)  # noqa: S103
        plain, repeatable = scripts / "insert.sql", scripts / "repeatable_read.sql"
        plain.write_text(INSERT, encoding="utf-8")
        repeatable.write_text(REPEATABLE_READ, encoding="utf-8")
        for script in (plain, repeatable):
            os.chmod(script, 0o644)
        migrate(pg)
        # A first run fills the caches and the table's first pages: not measured.
        pgbench(pg, plain, 2, 2)
        version = pg.psql("SHOW server_version")
        print(f"PostgreSQL {version}, fsync off, {os.cpu_count()} cores, {args.seconds} s a run")
        header = ("connections", "with trigger", "no trigger", "repeatable read")
        print(
            " ".join(
                f"{name:>{width}}" for name, width in zip(header, (11, 14, 12, 26), strict=True)
            )
        )
        for clients in args.clients:
            with_trigger, _, _ = pgbench(pg, plain, clients, args.seconds)
            pg.psql("ALTER TABLE orders_order DISABLE TRIGGER orders_changes_count")
            without, _, _ = pgbench(pg, plain, clients, args.seconds)
            pg.psql("ALTER TABLE orders_order ENABLE TRIGGER orders_changes_count")
            rr_rate, committed, failed = pgbench(pg, repeatable, clients, args.seconds)
            share = failed / (committed + failed) if committed + failed else 0.0
            print(
                f"{clients:>11} {with_trigger:>10.0f} /s {without:>8.0f} /s"
                f" {rr_rate:>8.0f} /s, {share:>5.1%} failed"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
