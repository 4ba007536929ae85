"""The `image` tasks: each resolves its Target and calls the function of its name with `_for`
(which deploy calls too); those call the modules beside them and turn an ImageError into a
one-line Exit that says what to do."""

from __future__ import annotations

import datetime as dt
import shlex
import time

import docker.errors
from invoke import Collection, Context, task
from invoke.exceptions import Exit

from ops.core.environments import ENV_HELP
from ops.core.target import Target
from ops.image import builder, checks, inventory, registry, runner, signing
from ops.image.common import (
    APP_UID,
    ImageError,
    client,
    engine_url,
    fail,
    git,
    image_ref,
    image_tag,
)

# The container's migrate on its own SQLite database: seconds; a minute means a stuck engine.
MIGRATE_TIMEOUT_S = 300


@task(
    help={
        "env": ENV_HELP,
        "base_image": "runtime base image; default: the local stand-in for local, else the "
        "Dockerfile's pinned distroless image",
    }
)
def build(c: Context, env: str = "", base_image: str = "") -> None:
    """Build app/Dockerfile, tagged <git sha>-<env>."""
    build_for(Target.resolve(c, env), base_image)


def build_for(target: Target, base_image: str = "") -> None:
    """image.build for one environment."""
    c, environment = target.context, target.environment
    try:
        ref = image_ref(environment)
        engine = client(environment)
        buildargs = builder.base_images_for(engine, environment)
        if base_image:
            buildargs["BASE_IMAGE"] = base_image
        started = time.monotonic()
        image_id = builder.build_image(
            target.runner,
            engine_url(environment),
            ref,
            buildargs=buildargs,
            ca_bundle=builder.build_ca_bundle(c),
            network=target.settings.image.build_network,
            labels={
                "org.opencontainers.image.revision": git("rev-parse", "HEAD"),
                "org.opencontainers.image.title": environment.app.name,
                "io.orderdesk.environment": environment.name,
            },
        )
        if target.runner.dry:
            print(f"dry run: {ref} not built")
            return
        size = engine.images.get(image_id).attrs.get("Size", 0)
    except ImageError as exc:
        raise fail(exc) from exc
    bases = ", ".join(f"{k}={v}" for k, v in buildargs.items()) or "the Dockerfile's defaults"
    print(
        f"built {ref} ({image_id[:19]}, {size / 1e6:.1f} MB, {bases}) "
        f"in {time.monotonic() - started:.0f}s"
    )


@task(help={"env": ENV_HELP + "; its image (tag <git sha>-<env>) is checked"})
def scan(c: Context, env: str = "") -> None:
    """hadolint + checkov on the Dockerfile; user, forbidden files, secrets of the built image."""
    scan_for(Target.resolve(c, env))


def scan_for(target: Target) -> None:
    """image.scan for one environment."""
    environment = target.environment
    try:
        ref = image_ref(environment)
        engine = client(environment)
        failures = checks.lint_dockerfile()
        failures += checks.inspect_image(engine, ref)
        failures += checks.scan_app_for_secrets(engine, ref)
    except ImageError as exc:
        raise fail(exc) from exc
    if failures:
        raise Exit(
            f"image: {len(failures)} finding(s) for {ref}:\n"
            + "\n".join(f"  - {item}" for item in failures)
            + "\nFix the Dockerfile (or what it copies) and build again.",
            code=1,
        )
    print(
        f"scan: {ref} clean (hadolint, checkov, UID {APP_UID}, exec form, forbidden files, secrets)"
    )


@task(help={"env": ENV_HELP + "; its image goes to its registry"})
def push(c: Context, env: str = "") -> None:
    """Push the image to the env's registry; print the digest and record it in image.json."""
    push_for(Target.resolve(c, env))


def push_for(target: Target) -> None:
    """image.push for one environment."""
    environment, env = target.environment, target.name
    try:
        tag = image_tag(environment)
        ref = image_ref(environment, tag)
        engine = client(environment)
        try:
            image = engine.images.get(ref)
        except docker.errors.ImageNotFound as exc:
            raise ImageError(
                f"image {ref} is not built; run `invoke image.build --env {env}` first"
            ) from exc
        registry.registry_login(target)
        digest = registry.push_image(engine, ref)
        record = registry.PushRecord(
            environment=environment.name,
            repository=environment.app.image_repository,
            tag=tag,
            digest=digest,
            git_commit=git("rev-parse", "HEAD"),
            image_id=str(image.id),
            pushed_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        )
        path = target.state.image_record
        registry.write_record(path, record)
    except ImageError as exc:
        raise fail(exc) from exc
    print(f"pushed {ref}\ndigest {digest}\nrecord {path}")


@task(help={"env": ENV_HELP + "; its pushed image (image.json) is inventoried"})
def sbom(c: Context, env: str = "") -> None:
    """Write the pushed digest's SPDX SBOM (syft) beside image.json and record its hash."""
    target = Target.resolve(c, env)
    environment = target.environment
    try:
        path = target.state.image_record
        record = inventory.generate(
            environment, registry.read_record(path, env), path.with_name(inventory.SBOM_FILE)
        )
    except ImageError as exc:
        raise fail(exc) from exc
    print(f"sbom {path.with_name(record.sbom)} for {record.digest} (sha256 {record.sbom_sha256})")


@task(help={"env": ENV_HELP + "; its pushed image (image.json) is signed"})
def sign(c: Context, env: str = "") -> None:
    """Sign the pushed digest and attach its SBOM (made now if missing) with cosign."""
    sign_for(Target.resolve(c, env))


def sign_for(target: Target) -> None:
    """image.sign for one environment."""
    environment, env = target.environment, target.name
    try:
        path = target.state.image_record
        record = registry.read_record(path, env)
        sbom_path = path.with_name(inventory.SBOM_FILE)
        if not record.sbom or not sbom_path.is_file():
            record = inventory.generate(environment, record, sbom_path)
        key = signing.signing_key(target)
        signing.sign(environment, key, record, sbom_path)
    except ImageError as exc:
        raise fail(exc) from exc
    print(f"signed {record.reference}\nsbom attached (key {key.verify})")


def verify_pushed(target: Target, digest: str = "") -> registry.PushRecord:
    """The push record, after checking that what the registry serves is what was signed.

    The tag must still point at the recorded digest (a rebuilt or altered image pushed under the
    same tag moves it), and the digest must carry a signature and an SBOM from the environment's
    key. Raises ImageError naming the digest and what failed; deploy calls this before applying.
    """
    # cosign reads the registry's credentials from Docker's config only: in a job that did not
    # push (deploy's kubernetes stage), ACR would answer 401 without this login.
    environment = target.environment
    registry.registry_login(target)
    path = target.state.image_record
    record = registry.read_record(path, environment.name)
    digest = digest or record.digest
    if not registry.DIGEST.fullmatch(digest):
        raise ImageError(f"{digest!r} is not a sha256 digest (sha256:<64 hex>)")
    key = signing.signing_key(target, create=False)
    if digest == record.digest:
        served = signing.served_digest(environment, key, f"{record.repository}:{record.tag}")
        if served != record.digest:
            raise ImageError(
                f"{record.repository}:{record.tag} now points to {served}, not the signed "
                f"{record.digest}: the image was changed after it was pushed and signed; "
                f"build, push and sign again (`invoke image.push --env {environment.name}`)"
            )
    signing.verify(
        environment,
        key,
        f"{record.repository}@{digest}",
        digest,
        path.with_name(inventory.SBOM_FILE) if digest == record.digest else None,
    )
    return record


@task(
    help={
        "env": ENV_HELP + "; its pushed image (image.json) is verified",
        "digest": "verify this sha256 digest of the env's repository instead of the recorded one",
    }
)
def verify(c: Context, env: str = "", digest: str = "") -> None:
    """Check the signature and the SBOM of the pushed digest; fail naming what does not match."""
    try:
        record = verify_pushed(Target.resolve(c, env), digest)
    except ImageError as exc:
        raise fail(exc) from exc
    print(f"verified {record.repository}@{digest or record.digest}: signature and SBOM")


@task(
    help={
        "env": ENV_HELP + "; its image is run",
        "port": "port on 127.0.0.1 (host network: the sandbox engine has no bridge)",
    }
)
def run(c: Context, env: str = "", port: int = 8000) -> None:
    """Run the image hardened (read-only, no capabilities, UID 10001) on 127.0.0.1:<port>."""
    target = Target.resolve(c, env)
    environment = target.environment
    try:
        ref = image_ref(environment)
        engine = client(environment)
        try:
            engine.images.get(ref)
        except docker.errors.ImageNotFound as exc:
            raise ImageError(
                f"image {ref} is not built; run `invoke image.build --env {env}`"
            ) from exc
        cli, cli_env = runner.docker_cli(engine_url(environment))
        state = target.state.directory
        data_dir = state / "container-data"
        data_dir.mkdir(parents=True, exist_ok=True)
        runner.give_to_app_user(data_dir, 0o700)
        migrate, serve = runner.local_run_args(
            ref, name=f"orderdesk-{environment.name}", port=port, state=state, data_dir=data_dir
        )
    except ImageError as exc:
        raise fail(exc) from exc
    target.runner.run([cli, *migrate], timeout=MIGRATE_TIMEOUT_S, env=cli_env, hide=False)
    print(f"serving http://127.0.0.1:{port}/ (Ctrl-C stops it)")
    # Not a Runner: the container serves in the foreground until Ctrl-C (no timeout fits), on a
    # terminal so docker passes the Ctrl-C on.
    c.run(shlex.join([cli, *serve]), env=cli_env, pty=True)


ns = Collection("image", build, scan, push, sbom, sign, verify, run)
