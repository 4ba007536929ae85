"""Continuous requests against one URL, counted: the zero-downtime proofs' load generator.

Each request opens a new connection (no keep-alive), so kube-proxy picks a pod for every one, as
for independent clients; a refused, reset or non-200 request counts as failed. Runs until the stop
file exists, then prints one JSON line: {"ok": n, "failed": m, "errors": [first few]}.

    python -m testkit.load URL STOP_FILE [THREADS]

Run it inside the node's network namespace (`nsenter --net=...`) to reach a ClusterIP.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
import urllib.parse
from pathlib import Path


def hammer(
    target: urllib.parse.SplitResult,
    stop: Path,
    counts: dict[str, int],
    errors: list[str],
    lock: threading.Lock,
) -> None:
    host = target.hostname
    assert host, "main() accepts only a URL that names its host"
    while not stop.exists():
        connection = http.client.HTTPConnection(host, target.port or 80, timeout=10)
        try:
            connection.request("GET", target.path or "/", headers={"Connection": "close"})
            response = connection.getresponse()
            response.read()
            outcome = "ok" if response.status == 200 else f"HTTP {response.status}"
        except OSError as exc:
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        with lock:
            if outcome == "ok":
                counts["ok"] += 1
            else:
                counts["failed"] += 1
                if len(errors) < 10:
                    errors.append(f"{time.strftime('%H:%M:%S')} {outcome}")
        time.sleep(0.01)


def main(argv: list[str]) -> int:
    url, stop = argv[0], Path(argv[1])
    target = urllib.parse.urlsplit(url)
    if target.scheme != "http" or not target.hostname:
        raise SystemExit(
            f"usage: python -m testkit.load http://HOST[:PORT]/PATH STOP_FILE; got {url}"
        )
    threads = int(argv[2]) if len(argv) > 2 else 4
    counts = {"ok": 0, "failed": 0}
    errors: list[str] = []
    lock = threading.Lock()
    workers = [
        threading.Thread(target=hammer, args=(target, stop, counts, errors, lock))
        for _ in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps({**counts, "errors": errors}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
