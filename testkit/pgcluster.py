"""A throwaway PostgreSQL cluster on 127.0.0.1 for the tests, from Debian's server binaries.

    python -m testkit.pgcluster run -- pytest -m "not browser"   # DATABASE_URL set for the command

It never touches the machine's own clusters: its own data directory, socket directory and port.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ops.core.run import RunFailed, Runner
from testkit.support import free_port

DATABASE = "orderdesk"
ROLE = "orderdesk"


def find_bindir() -> Path | None:
    """The newest Debian PostgreSQL server (initdb lives off PATH), else initdb on PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _as_server_user(base: Path) -> list[str]:
    """PostgreSQL refuses to run as root: in CI (root) run it as the postgres system user."""
    if os.geteuid() != 0:
        return []
    user = pwd.getpwnam("postgres")
    for path in [base, *base.rglob("*")]:
        os.chown(path, user.pw_uid, user.pw_gid)
    return ["runuser", "-u", "postgres", "--"]


@dataclass
class Cluster:
    url: str
    pg_ctl: list[str | Path]
    options: str
    sockets: Path
    port: int
    bindir: Path
    runner: tuple[str, ...] = ()
    # With tls=True: the throwaway CA that signed the server's certificate (for sslrootcert).
    ca_file: Path | None = None

    def start(self) -> None:
        # pg_ctl -w waits up to its own 60 s for the server to accept connections.
        Runner().run([*self.pg_ctl, "-o", self.options, "-w", "start"], timeout=90)

    def stop(self) -> None:
        Runner().run([*self.pg_ctl, "-m", "fast", "-w", "stop"], timeout=90, warn=True)

    def psql(self, sql: str) -> str:
        """One statement as the owner, through the Unix socket; the unaligned result."""
        done = Runner().run(
            [
                *self.runner,
                self.bindir / "psql",
                "-h",
                str(self.sockets),
                "-p",
                str(self.port),
                "-U",
                ROLE,
                "-d",
                DATABASE,
                "-v",
                "ON_ERROR_STOP=1",
                "-Atc",
                sql,
            ],
            timeout=60,
        )
        return str(done.stdout).strip()


@contextlib.contextmanager
def temporary_cluster(bindir: Path | None = None, *, tls: bool = False) -> Iterator[Cluster]:
    with (
        tempfile.TemporaryDirectory(prefix="orderdesk-pg-") as temp,
        cluster_at(Path(temp), bindir, tls=tls) as cluster,
    ):
        yield cluster


def _tls_options(base: Path, listen: str, hba: tuple[str, ...]) -> tuple[str, Path]:
    """Server TLS as Azure PostgreSQL has it: a certificate for the listen address from a
    throwaway CA, and TCP clients accepted only over TLS (a plain connection finds no pg_hba.conf
    entry); `hba` adds rules of the caller's (hostssl lines for other clients)."""
    import trustme  # the test group's; only TLS clusters need it

    tls = base / "tls"
    tls.mkdir(exist_ok=True)
    ca = trustme.CA()
    server = ca.issue_cert(listen)
    server.cert_chain_pems[0].write_to_path(str(tls / "server.crt"))
    server.private_key_pem.write_to_path(str(tls / "server.key"))
    # PostgreSQL refuses a key file others can read.
    os.chmod(tls / "server.key", 0o600)
    ca.cert_pem.write_to_path(str(tls / "ca.crt"))
    rules = ["local all all trust", f"hostssl all all {listen}/32 trust", *hba]
    (tls / "pg_hba.conf").write_text("".join(f"{rule}\n" for rule in rules), encoding="utf-8")
    options = (
        f" -c ssl=on -c ssl_cert_file={tls / 'server.crt'} -c ssl_key_file={tls / 'server.key'}"
        f" -c hba_file={tls / 'pg_hba.conf'}"
    )
    return options, tls / "ca.crt"


@contextlib.contextmanager
def cluster_at(
    base: Path,
    bindir: Path | None = None,
    *,
    tls: bool = False,
    listen: str = "127.0.0.1",
    port: int | None = None,
    launcher: tuple[str, ...] = (),
    hba: tuple[str, ...] = (),
) -> Iterator[Cluster]:
    """A cluster kept in BASE: created on first use, reused (data and all) by later runs.

    `launcher` prefixes the server's start (e.g. nsenter into a network namespace, so it listens
    on `listen` there); `hba` adds pg_hba.conf rules. Administration goes through the Unix socket
    in BASE, whatever the namespace.
    """
    bindir = bindir or find_bindir()
    if bindir is None:
        raise FileNotFoundError(
            "PostgreSQL server binaries not found; install Debian's postgresql package"
        )
    base.mkdir(parents=True, exist_ok=True)
    # The postgres system user (CI runs as root) must reach its data directory.
    os.chmod(base, 0o755)  # noqa: S103
    data, sockets, log = base / "data", base / "sockets", base / "server.log"
    sockets.mkdir(exist_ok=True)
    tls_options, ca_file = _tls_options(base, listen, hba) if tls else ("", None)
    runner = _as_server_user(base)
    port = port or free_port()
    fresh = not (data / "PG_VERSION").exists()
    if fresh:
        Runner().run(
            [*runner, bindir / "initdb", "-D", data, "-U", ROLE, "-A", "trust", "-E", "UTF8"],
            timeout=120,
        )
        if not tls:
            with (data / "pg_hba.conf").open("a", encoding="utf-8") as rules:
                rules.writelines(f"{line}\n" for line in hba)
    cluster = Cluster(
        url=f"postgresql://{ROLE}@{listen}:{port}/{DATABASE}",
        pg_ctl=[*launcher, *runner, bindir / "pg_ctl", "-D", data, "-l", log],
        options=(
            f"-c listen_addresses={listen} -p {port} -k {sockets} "
            # A test cluster can lose everything on a crash: skip the durability work.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off" + tls_options
        ),
        sockets=sockets,
        port=port,
        bindir=bindir,
        runner=tuple(runner),
        ca_file=ca_file,
    )
    cluster.start()
    try:
        if fresh:
            Runner().run(
                [
                    *runner,
                    bindir / "createdb",
                    "-h",
                    str(sockets),
                    "-p",
                    str(port),
                    "-U",
                    ROLE,
                    DATABASE,
                ],
                timeout=60,
            )
        yield cluster
    finally:
        cluster.stop()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[:2] != ["run", "--"]:
        print("usage: python -m testkit.pgcluster run -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    try:
        with temporary_cluster() as cluster:
            print(f"pgcluster: PostgreSQL ready at {cluster.url}", flush=True)
            env = {**os.environ, "DATABASE_URL": cluster.url}
            return subprocess.run(argv[2:], env=env, check=False).returncode
    except FileNotFoundError as exc:
        print(f"pgcluster: {exc}", file=sys.stderr)
        return 3
    except RunFailed as exc:
        print(f"pgcluster: could not start PostgreSQL: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
