"""SBOM, signature and verification for real: syft, cosign, the sandbox engine and registry.

Each test pushes the built image to a repository of its own in the local registry (signatures and
attestations live beside the image, tied to its digest, so sharing a repository would let one
test's signature satisfy another's check). One key pair and one SBOM are made once and copied.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import yaml
from invoke import Config, Context, MockContext
from invoke.exceptions import Exit

from ops import deploy, envconfig, sandbox
from ops.core.target import Target
from ops.image import inventory, registry, signing
from testkit.support import need_tool, recorded_run
from tests.image.conftest import Built, invoke

pytestmark = pytest.mark.slow

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIGSTORE_BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PREDICATE_TYPE = "dev.sigstore.bundle.predicateType"


@dataclass(frozen=True)
class Pushed:
    """One test's copy of the image: its repository, env file and state dir (record, keys)."""

    repository: str
    env_file: Path
    state_dir: Path
    engine_url: str

    @property
    def record_path(self) -> Path:
        return self.state_dir / "local" / "image.json"

    def record(self) -> dict[str, str]:
        return dict(json.loads(self.record_path.read_text()))

    def invoke(self, *args: str) -> tuple[int, str, str]:
        result = invoke(
            *args,
            "--env",
            "local",
            env={
                "DOCKER_HOST": self.engine_url,
                "INVOKE_ENV_FILE": str(self.env_file),
                "INVOKE_STATE_DIR": str(self.state_dir),
            },
        )
        return result.returncode, result.stdout, result.stderr


def push_copy(
    built: Built, engine: docker.DockerClient, engine_url: str, base: Path, name: str
) -> Pushed:
    """Push the built image to <registry>/<name>, with `invoke image.push`, into its own state."""
    address = built.environment.registry.login_server
    repository = f"{address}/{name}"
    raw = yaml.safe_load(envconfig.ENV_FILE.read_text())
    raw["environments"]["local"]["app"]["image_repository"] = repository
    env_file = base / "env.yaml"
    env_file.write_text(yaml.safe_dump(raw))
    tag = built.ref.rsplit(":", 1)[1]
    engine.images.get(built.ref).tag(repository, tag)
    pushed = Pushed(repository, env_file, base / "state", engine_url)
    code, out, err = pushed.invoke("image.push")
    assert code == 0, out + err
    return pushed


@pytest.fixture(scope="module")
def tools() -> None:
    need_tool("cosign", "the image is signed and verified with cosign (tools/go/image.txt)")
    need_tool("syft", "the image's SBOM is made with syft (tools/go/image.txt)")


@pytest.fixture(scope="module")
def first_signed(  # noqa: PLR0917 - pytest passes fixtures positionally
    tools: None,
    built: Built,
    engine: docker.DockerClient,
    engine_url: str,
    local_registry: sandbox.Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Pushed:
    """Pushed and signed by the real tasks: the key pair and the SBOM are made here, once."""
    pushed = push_copy(
        built, engine, engine_url, tmp_path_factory.mktemp("signed"), f"sc-{uuid.uuid4().hex[:8]}"
    )
    code, out, err = pushed.invoke("image.sign")
    assert code == 0, out + err
    return pushed


@pytest.fixture
def fresh(
    first_signed: Pushed,
    built: Built,
    engine: docker.DockerClient,
    engine_url: str,
    tmp_path: Path,
) -> Pushed:
    """A new repository holding the image, unsigned, with the same key and SBOM at hand."""
    pushed = push_copy(built, engine, engine_url, tmp_path, f"sc-{uuid.uuid4().hex[:8]}")
    source = first_signed.state_dir / "local"
    for name in ("cosign.key", "cosign.pub", inventory.SBOM_FILE):
        shutil.copy2(source / name, pushed.state_dir / "local" / name)
    record = pushed.record()
    record.update({k: first_signed.record()[k] for k in ("sbom", "sbom_sha256")})
    pushed.record_path.write_text(json.dumps(record))
    return pushed


def test_sign_makes_a_local_key_pair_and_an_sbom_kept_with_the_record(
    first_signed: Pushed,
) -> None:
    state = first_signed.state_dir / "local"
    private = state / "cosign.key"
    assert private.stat().st_mode & 0o777 == 0o600
    assert "ENCRYPTED SIGSTORE PRIVATE KEY" in private.read_text()
    assert "PUBLIC KEY" in (state / "cosign.pub").read_text()

    record = first_signed.record()
    document = json.loads((state / record["sbom"]).read_text())
    assert document["spdxVersion"].startswith("SPDX-")
    assert inventory.describes(document, record["digest"])
    names = {package["name"] for package in document["packages"]}
    # The locked runtime dependencies in the venv, and the Python the distroless base carries.
    assert {"django", "gunicorn", "whitenoise", "psycopg"} <= {n.lower() for n in names}
    versions = {package["name"]: package.get("versionInfo", "") for package in document["packages"]}
    pythons = {name: v for name, v in versions.items() if name.startswith("python3.13")}
    assert any(v.startswith("3.13.") for v in pythons.values()), sorted(versions.items())
    # The Debian packages of the base, from its dpkg status.d (distroless keeps one per package).
    assert "libssl3t64" in names, sorted(names)
    # psycopg's C implementation and the Debian libraries copied in for it (their status.d
    # records), not the wheel that bundled its own libpq and OpenSSL.
    assert {"psycopg-c", "libpq5", "libldap2", "libsasl2-2"} <= names, sorted(names)
    assert "psycopg-binary" not in {n.lower() for n in names}
    assert "pytest" not in {n.lower() for n in names}


def test_verify_passes_on_the_signed_digest_and_names_it(first_signed: Pushed) -> None:
    code, out, err = first_signed.invoke("image.verify")
    assert code == 0, out + err
    assert f"verified {first_signed.repository}@{first_signed.record()['digest']}" in out


def referring_bundles(pushed: Pushed, digest: str) -> dict[str, dict[str, Any]]:
    """The Sigstore bundle manifests that refer to `digest`, by their manifest digest.

    cosign 3 stores each signature and attestation as a bundle whose `subject` is the image; a
    registry without the OCI referrers API (the sandbox's 2.8) gets the fallback tag
    `sha256-<hex>`, an index listing them (OCI distribution spec, "Referrers Tag Schema")."""
    address, name = pushed.repository.split("/", 1)
    base = f"http://{address}/v2/{name}/manifests"
    index = requests.get(
        f"{base}/{digest.replace(':', '-')}", headers={"Accept": OCI_INDEX}, timeout=30
    )
    assert index.status_code == 200, index.text
    bundles = {}
    for entry in index.json()["manifests"]:
        manifest = requests.get(
            f"{base}/{entry['digest']}", headers={"Accept": entry["mediaType"]}, timeout=30
        )
        if manifest.status_code == 200:
            bundles[entry["digest"]] = manifest.json()
    return bundles


def test_the_sbom_is_in_the_registry_as_an_attestation_of_the_digest(
    first_signed: Pushed,
) -> None:
    # An in-toto statement whose subject is the image digest and whose predicate is the SPDX
    # document, in a Sigstore bundle that refers to the digest; the signature is a second one.
    digest = first_signed.record()["digest"]
    bundles = referring_bundles(first_signed, digest).values()
    assert {bundle["subject"]["digest"] for bundle in bundles} == {digest}
    assert {bundle["artifactType"] for bundle in bundles} == {SIGSTORE_BUNDLE}
    predicates = {bundle["annotations"][PREDICATE_TYPE] for bundle in bundles}
    assert {"https://spdx.dev/Document", "https://sigstore.dev/cosign/sign/v1"} <= predicates


def expect_refused(pushed: Pushed, digest: str, *words: str, args: tuple[str, ...] = ()) -> None:
    code, out, err = pushed.invoke("image.verify", *args)
    assert code == 1, out + err
    assert digest in err
    for word in words:
        assert word in err
    assert "Traceback" not in err
    assert "verified" not in out


def test_an_unsigned_digest_is_refused(fresh: Pushed) -> None:
    digest = fresh.record()["digest"]
    expect_refused(fresh, digest, "is not signed by", "invoke image.sign")


def test_a_signature_made_with_another_key_is_refused(fresh: Pushed, tmp_path: Path) -> None:
    # Someone else's key signs (and attests) the digest; ours never did.
    other_state = tmp_path / "other-state"
    shutil.copytree(fresh.state_dir, other_state)
    for name in ("cosign.key", "cosign.pub"):
        (other_state / "local" / name).unlink()
    other = Pushed(fresh.repository, fresh.env_file, other_state, fresh.engine_url)
    code, out, err = other.invoke("image.sign")
    assert code == 0, out + err
    assert (other_state / "local" / "cosign.pub").read_text() != (
        fresh.state_dir / "local" / "cosign.pub"
    ).read_text()

    expect_refused(fresh, fresh.record()["digest"], "is not signed by", "cosign.pub")


def test_a_tampered_image_under_the_same_tag_is_refused(
    fresh: Pushed, engine: docker.DockerClient
) -> None:
    code, out, err = fresh.invoke("image.sign")
    assert code == 0, out + err
    signed = fresh.record()

    # One layer changed: a file of the app replaced, committed, pushed under the same tag.
    ref = f"{fresh.repository}:{signed['tag']}"
    container = engine.containers.create(ref, command=["never-run"], network_mode="none")
    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as archive:
        text = b"raise SystemExit('tampered')\n"
        info = tarfile.TarInfo("app/orderdesk/tampered.py")
        info.size = len(text)
        archive.addfile(info, io.BytesIO(text))
    container.put_archive("/", payload.getvalue())
    container.commit(repository=fresh.repository, tag=signed["tag"])
    container.remove(force=True)
    for chunk in engine.api.push(fresh.repository, tag=signed["tag"], stream=True, decode=True):
        assert "error" not in chunk, chunk
    tampered = registry.registry_digest(engine, ref)
    assert tampered != signed["digest"]

    # The record still names the signed digest, but the tag moved: refused, naming both.
    expect_refused(fresh, signed["digest"], tampered, "changed after it was pushed and signed")
    # The tampered digest itself carries no signature.
    expect_refused(fresh, tampered, "is not signed by", args=("--digest", tampered))
    # Pushed through the task, the record follows the tag, and that digest is unsigned.
    code, out, err = fresh.invoke("image.push")
    assert code == 0, out + err
    assert fresh.record()["digest"] == tampered
    expect_refused(fresh, tampered, "is not signed by")


def test_a_registry_that_lost_the_sbom_is_refused(fresh: Pushed) -> None:
    code, out, err = fresh.invoke("image.sign")
    assert code == 0, out + err
    digest = fresh.record()["digest"]
    address, name = fresh.repository.split("/", 1)
    (sbom_bundle,) = [
        manifest_digest
        for manifest_digest, bundle in referring_bundles(fresh, digest).items()
        if bundle["annotations"][PREDICATE_TYPE] == "https://spdx.dev/Document"
    ]
    deleted = requests.delete(f"http://{address}/v2/{name}/manifests/{sbom_bundle}", timeout=30)
    assert deleted.status_code == 202, deleted.text

    expect_refused(fresh, digest, "has no SBOM", "invoke image.sign")
    # The signature alone still verifies: it is the SBOM that is missing, and the record and
    # keys are untouched by the refusal.
    assert (fresh.state_dir / "local" / "cosign.key").is_file()
    assert fresh.record()["digest"] == digest


def test_verify_without_a_push_record_says_which_task_writes_it(tmp_path: Path) -> None:
    result = invoke("image.verify", "--env", "local", env={"INVOKE_STATE_DIR": str(tmp_path)})
    assert result.returncode == 1
    assert "no push record" in result.stderr
    assert "invoke image.push --env local" in result.stderr


def test_a_digest_that_is_not_sha256_is_refused_before_any_call(tmp_path: Path) -> None:
    path = tmp_path / "local" / "image.json"
    registry.write_record(
        path,
        registry.PushRecord(
            environment="local",
            repository="127.0.0.1:5000/orderdesk",
            tag="t",
            digest="sha256:" + "0" * 64,
            git_commit="a" * 40,
            image_id="sha256:" + "1" * 64,
            pushed_at="2026-01-01T00:00:00+00:00",
        ),
    )
    result = invoke(
        "image.verify",
        "--env",
        "local",
        "--digest",
        "latest",
        env={"INVOKE_STATE_DIR": str(tmp_path)},
    )
    assert result.returncode == 1
    assert "'latest' is not a sha256 digest" in result.stderr


def test_signing_names_no_public_log_timestamp_or_certificate_authority() -> None:
    # cosign 3 signs through a signing config (sigstore protobuf-specs SigningConfig v0.2: caUrls,
    # oidcUrls, rekorTlogUrls, tsaUrls); ours lists none, so nothing leaves for a public service.
    config = json.loads(signing.SIGNING_CONFIG.read_text(encoding="utf-8"))
    assert config["mediaType"] == "application/vnd.dev.sigstore.signingconfig.v0.2+json"
    for services in ("caUrls", "oidcUrls", "rekorTlogUrls", "tsaUrls"):
        assert not config.get(services), services


def test_azure_environments_sign_with_their_key_vault_key() -> None:
    # cosign's Azure KMS URI: azurekms://[Key Vault Name].vault.azure.net/[Key Name]
    # (sigstore/sigstore pkg/signature/kms/azure README).
    environment = envconfig.load("dev")
    assert environment.azure is not None
    key = signing.signing_key(Target.of(Context(), environment))
    vault = environment.azure.key_vault.name
    assert key.sign == key.verify == f"azurekms://{vault}.vault.azure.net/image-signing"
    assert key.env == {}


def test_deploy_refuses_an_unsigned_digest_before_applying_anything(fresh: Pushed) -> None:
    """The real deploy task, kubernetes stage only: image.verify runs first, for real."""
    c = MockContext(
        config=Config(
            overrides={
                "state_dir": str(fresh.state_dir),
                "image": {"env_file": str(fresh.env_file)},
            }
        ),
        run={},  # answers no command; records any in a Mock
    )
    digest = fresh.record()["digest"]
    with pytest.raises(Exit) as caught:
        deploy.deploy(c, env="local", only="kubernetes", allow_dirty=True)
    message = str(caught.value.message)
    assert "stage kubernetes failed: `invoke image.verify --env local`" in message
    assert f"{digest} is not signed by" in message
    recorded_run(c).assert_not_called()
