"""The loopback bridges between the host and a network namespace, for real (needs root)."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from ops.core.wait import wait_until
from ops.core.web import wait_for_status
from ops.envconfig import REPO_ROOT
from testkit.support import free_port, need


@pytest.fixture
def namespace() -> Iterator[int]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        need("the bridge test needs root and unshare (util-linux)")
    holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"])
    try:
        wait_until(
            lambda: os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"),
            what="unshare's network namespace",
            timeout=5,
            interval=0.05,
        )
        subprocess.run(
            ["nsenter", f"--net=/proc/{holder.pid}/ns/net", "ip", "link", "set", "lo", "up"],
            check=True,
        )
        yield holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"from the host"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_both_directions_and_nothing_outside_loopback(namespace: int) -> None:
    host_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=host_server.serve_forever, daemon=True).start()
    host_port = host_server.server_address[1]
    into_node = free_port()
    netns = f"/proc/{namespace}/ns/net"
    in_node_server = subprocess.Popen(
        [
            "nsenter",
            f"--net={netns}",
            sys.executable,
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            "8080",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bridge = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ops.sandbox.bridge",
            netns,
            f"host:127.0.0.1:{into_node}=node:127.0.0.1:8080",
            f"node:127.0.0.1:{host_port}=host:127.0.0.1:{host_port}",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert bridge.stdout is not None
        assert bridge.stdout.readline().strip() == "bridge: ready"
        # host -> node: the namespace's own loopback server.
        answer = wait_for_status(f"http://127.0.0.1:{into_node}/", timeout=10, interval=0.2)
        assert "Directory listing" in answer.text
        # node -> host: a client inside the namespace reaches the host's loopback server.
        fetched = subprocess.run(
            ["nsenter", f"--net={netns}", "curl", "-sf", f"http://127.0.0.1:{host_port}/"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert fetched.stdout == "from the host", fetched.stderr
        # The bridge's host-side socket is on the loopback only.
        listening = subprocess.run(
            ["ss", "-ltnpH"], capture_output=True, text=True, check=True
        ).stdout
        mine = [line for line in listening.splitlines() if f"pid={bridge.pid}," in line]
        assert mine, listening
        assert all(line.split()[3].startswith("127.0.0.1:") for line in mine), mine
    finally:
        bridge.kill()
        in_node_server.kill()
        bridge.wait()
        in_node_server.wait()
        host_server.shutdown()
