"""Signing the pushed digest and attaching its SBOM with cosign; verifying both before deploy.

`local` signs with a key pair made on first use under `<state_dir>/local/` (never committed);
Azure environments sign with the Key Vault key Terraform creates (`azurekms://`), so no private
key ever leaves the vault. Both the signature and the SBOM attestation are stored in the registry
next to the image, tied to its digest: cosign 3 writes each as a Sigstore bundle that refers to
the digest (OCI referrers; a registry without the referrers API gets the fallback tag
`sha256-<hex>` listing them). Nothing goes to a public transparency log: the registry is private,
and its digests and names are not for publishing.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.runners import Result

from ops import envconfig
from ops.core.run import Runner
from ops.core.target import Target
from ops.image.common import ImageError
from ops.image.inventory import SBOM_TYPE, describes, tool
from ops.image.registry import DIGEST, PushRecord, registry_login

LOCAL_KEY_PREFIX = "cosign"
# One cosign call: a signature or attestation pushed to, or read from, the registry.
COSIGN_TIMEOUT_S = 600
# Where cosign 3 sends what it signs: a signing config that names no transparency log, timestamp
# authority or certificate authority, so a signature stays between the key and the registry.
# cosign 3 refuses --tlog-upload=false beside its default TUF-provided config and asks for this
# file instead (cmd/cosign/cli/signcommon LoadTrustedMaterialAndSigningConfig; made by
# `cosign signing-config create` with no service flags).
SIGNING_CONFIG = Path(__file__).with_name("signing-config.json")


@dataclass(frozen=True)
class SigningKey:
    """What cosign signs with (--key) and verifies against; env carries the local key's password."""

    sign: str
    verify: str
    env: dict[str, str]


def signing_key(target: Target, *, create: bool = True) -> SigningKey:
    """The environment's key; the local pair is made on first use when `create` (sign), and
    its absence is an error otherwise (verify: a new key could only say "not signed")."""
    environment = target.environment
    if environment.azure is not None:
        vault = environment.azure.key_vault.name
        name = target.settings.image.signing_key_name
        uri = f"azurekms://{vault}.vault.azure.net/{name}"
        return SigningKey(sign=uri, verify=uri, env={})
    private = target.state.directory / f"{LOCAL_KEY_PREFIX}.key"
    public = private.with_suffix(".pub")
    # A throwaway key for one machine's sandbox: its password protects nothing a file mode does not.
    env = {"COSIGN_PASSWORD": ""}  # nosec B105 - an empty password, on purpose (see above)
    if not create and not public.is_file():
        raise ImageError(
            f"no local signing key {public}; sign first: "
            f"`invoke image.sign --env {environment.name}`"
        )
    if not private.is_file() or not public.is_file():
        private.parent.mkdir(parents=True, exist_ok=True)
        for stale in (private, public):
            stale.unlink(missing_ok=True)
        _cosign(
            ["generate-key-pair", "--output-key-prefix", str(private.with_suffix(""))],
            env,
            what=f"making the local signing key {private}",
        )
        private.chmod(0o600)
    return SigningKey(sign=str(private), verify=str(public), env=env)


def _cosign(args: list[str], env: dict[str, str], *, what: str) -> Result:
    done = Runner().run([tool("cosign"), *args], env=env, timeout=COSIGN_TIMEOUT_S, warn=True)
    if done.exited != 0:
        raise ImageError(f"{what} failed: {_last_error(done.stderr)}")
    return done


def _last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    return (errors or lines or ["(no output)"])[-1].removeprefix("Error: ")


def _registry_flags(environment: envconfig.Environment) -> list[str]:
    # The sandbox registry speaks plain HTTP on loopback; ACR is always TLS.
    return ["--allow-http-registry"] if environment.registry.kind == "local" else []


def sign(
    environment: envconfig.Environment, key: SigningKey, record: PushRecord, sbom: Path
) -> None:
    """Sign the digest and attach the SBOM as a signed attestation whose subject is the digest."""
    common = [
        "--key",
        key.sign,
        "--signing-config",
        str(SIGNING_CONFIG),
        "--yes",
        *_registry_flags(environment),
    ]
    env = key.env
    _cosign(["sign", *common, record.reference], env, what=f"signing {record.digest}")
    _cosign(
        ["attest", *common, "--type", SBOM_TYPE, "--predicate", str(sbom), record.reference],
        env,
        what=f"attaching the SBOM to {record.digest}",
    )


def verify(
    environment: envconfig.Environment,
    key: SigningKey,
    reference: str,
    digest: str,
    sbom: Path | None = None,
) -> dict[str, Any]:
    """Check the signature and the SBOM attestation of reference (repo@digest); return the SBOM.

    Every failure names the digest and what failed, so deploy can refuse with that message.
    """
    common = ["--key", key.verify, "--insecure-ignore-tlog=true", *_registry_flags(environment)]
    env = key.env
    try:
        _cosign(["verify", *common, "--output", "json", reference], env, what="signature")
    except ImageError as exc:
        raise ImageError(
            f"{digest} is not signed by {key.verify}: {_why(exc)}; sign it with "
            f"`invoke image.sign --env {environment.name}` (never deploy an unsigned image)"
        ) from exc
    try:
        done = _cosign(
            ["verify-attestation", *common, "--type", SBOM_TYPE, "--output", "json", reference],
            env,
            what="SBOM attestation",
        )
    except ImageError as exc:
        raise ImageError(
            f"{digest} has no SBOM signed by {key.verify} in the registry: {_why(exc)}; "
            f"attach it again with `invoke image.sign --env {environment.name}`"
        ) from exc
    attached = [statement.get("predicate") or {} for statement in _statements(done.stdout, digest)]
    describing = [document for document in attached if describes(document, digest)]
    if not describing:
        raise ImageError(f"{digest}: the attached SBOM describes another image; sign it again")
    if sbom is not None and sbom.is_file():
        recorded = json.loads(sbom.read_text(encoding="utf-8"))
        if recorded not in describing:
            raise ImageError(
                f"{digest}: the SBOM in the registry differs from {sbom}; "
                f"run `invoke image.sign --env {environment.name}` again"
            )
        return dict(recorded)
    return dict(describing[-1])


def verify_reference(target: Target, repository: str, digest: str) -> dict[str, Any]:
    """Verify repository@digest with the environment's key, as deploy verifies what it applies
    (for an image named by hand: `k8s.apply --image`, `k8s.rollback --revision`)."""
    # As image.verify_pushed: cosign finds ACR's credentials only in Docker's config.
    registry_login(target)
    key = signing_key(target, create=False)
    return verify(target.environment, key, f"{repository}@{digest}", digest)


def served_digest(environment: envconfig.Environment, key: SigningKey, ref: str) -> str:
    """The digest the registry serves for repo:tag, asked with cosign's own registry access
    (no Docker engine needed where deploy runs)."""
    done = _cosign(
        ["triangulate", "--type", "digest", *_registry_flags(environment), ref],
        key.env,
        what=f"looking up {ref} in the registry",
    )
    digest = done.stdout.strip().rsplit("@", 1)[-1]
    if not DIGEST.fullmatch(digest):
        raise ImageError(f"the registry gave no digest for {ref} ({done.stdout.strip()!r})")
    return digest


def _why(exc: ImageError) -> str:
    return str(exc).split(" failed: ", 1)[-1]


def _statements(output: str, digest: str) -> list[dict[str, Any]]:
    """The in-toto statements whose subject is this digest, from `cosign verify-attestation`:
    one per signing of the digest (a redeploy of an unchanged image signs it again)."""
    hexdigest = digest.removeprefix("sha256:")
    found = []
    for line in filter(None, (line.strip() for line in output.splitlines())):
        envelope = json.loads(line)
        statement = json.loads(base64.b64decode(envelope["payload"]))
        subjects = [item.get("digest", {}).get("sha256") for item in statement.get("subject", [])]
        if hexdigest in subjects:
            found.append(dict(statement))
    if not found:
        raise ImageError(f"{digest}: no SBOM attestation names it as its subject; sign it again")
    return found
