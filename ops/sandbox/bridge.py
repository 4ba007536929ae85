"""TCP port bridges between the host's loopback and the cluster's network namespace.

The node lives in a private network namespace, so nothing it serves is reachable from the host and
nothing on the host's loopback is reachable from it. Two openings are needed, both loopback-only:

- the API server: host 127.0.0.1:<free port> -> the node's 127.0.0.1:6443 (kubectl, helm, tests);
- the image registry: the node's 127.0.0.1:5000 -> host 127.0.0.1:5000 (containerd pulls by digest
  from the same address the `local` environment pushes to, as AKS pulls from ACR).

A socket stays in the namespace it was created in, so one process serves both: it enters the node's
namespace (setns) only while creating a socket there. No host interface, route or iptables rule.

    python -m ops.sandbox.bridge NETNS host:127.0.0.1:PORT=node:127.0.0.1:6443 node:...=host:...
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_switch = threading.Lock()


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"setns: {os.strerror(errno)}")


@contextlib.contextmanager
def entered(netns_path: str) -> Iterator[None]:
    """Create sockets in another network namespace (this thread only, then back)."""
    with _switch:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(netns_path, os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield
            finally:
                _setns(home)
        finally:
            os.close(target)
            os.close(home)


@dataclass(frozen=True)
class Endpoint:
    side: str  # "host" or "node"
    address: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        side, address, port = text.split(":")
        if side not in {"host", "node"}:
            raise ValueError(f"{text!r}: the side is host or node")
        return cls(side, address, int(port))


def _socket_on(endpoint: Endpoint, netns_path: str) -> socket.socket:
    if endpoint.side == "node":
        with entered(netns_path):
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def listen(endpoint: Endpoint, netns_path: str) -> socket.socket:
    server = _socket_on(endpoint, netns_path)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((endpoint.address, endpoint.port))
    server.listen(128)
    return server


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def _serve_one(client: socket.socket, target: Endpoint, netns_path: str) -> None:
    upstream = _socket_on(target, netns_path)
    try:
        upstream.connect((target.address, target.port))
    except OSError:
        client.close()
        upstream.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    client.close()
    upstream.close()


def serve(netns_path: str, routes: list[tuple[Endpoint, Endpoint]]) -> None:
    selector = selectors.DefaultSelector()
    for source, target in routes:
        selector.register(listen(source, netns_path), selectors.EVENT_READ, target)
    print("bridge: ready", flush=True)
    while True:
        for key, _ in selector.select():
            server: socket.socket = key.fileobj  # type: ignore[assignment]
            client, _ = server.accept()
            threading.Thread(
                target=_serve_one, args=(client, key.data, netns_path), daemon=True
            ).start()


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    routes = []
    for route in argv[1:]:
        source, target = route.split("=")
        routes.append((Endpoint.parse(source), Endpoint.parse(target)))
    serve(argv[0], routes)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
