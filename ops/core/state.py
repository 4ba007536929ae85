"""What the tasks leave for each other in .data/<env>/, named once.

    .data/<env>/image.json          invoke image.push: the pushed reference and digest
    .data/<env>/tf-outputs.json     invoke tf.output --save: Terraform's outputs
    .data/<env>/kubeconfig          invoke deploy's credentials stage (or sandbox.cluster-start)
    .data/<env>/manifests.yaml      invoke k8s.render: what apply sends
    .data/<env>/before-apply.json   invoke k8s.apply: the revision that ran before, what changed
    .data/<env>/secrets/<name>      local environments: the app's keys, generated once
    .data/<env>/last-deploy.json    invoke deploy: the last record (deploys/ keeps them all)

The root is invoke's `state_dir` setting (INVOKE_STATE_DIR; tests point it at a temp dir), else
.data/ in the checkout.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from invoke.context import Context

from ops.envconfig import GENERATED_SECRETS, REPO_ROOT

DEFAULT_ROOT = REPO_ROOT / ".data"

# The app reads each key from the file its *_FILE variable names; the file names are the Key Vault
# secret names (manifests/components/keyvault) so a local Secret and the CSI mount look alike.
SECRET_FILES = {
    # A file name, not a secret.
    "DJANGO_SECRET_KEY_FILE": "django-secret-key",  # nosec B105  # pragma: allowlist secret
    "ORDERDESK_CARD_KEY_FILE": "card-fingerprint-key",
}
# Every secret Terraform generates in Key Vault (infra/secrets.tf): the app's, and the database's.
KEY_VAULT_SECRETS = GENERATED_SECRETS


class StateMissing(Exception):
    """A file another task writes is not there yet; the message names that task."""


def root(c: Context | None = None) -> Path:
    """The state root: invoke's `state_dir` setting, else .data/ in the checkout."""
    configured = c.config.get("state_dir") if c is not None else None
    return Path(configured) if configured else DEFAULT_ROOT


@dataclass(frozen=True)
class EnvState:
    """The state files of one environment."""

    directory: Path

    @classmethod
    def of(cls, env: str, c: Context | None = None) -> EnvState:
        return cls(root(c) / env)

    @property
    def image_record(self) -> Path:
        return self.directory / "image.json"

    @property
    def tf_outputs(self) -> Path:
        return self.directory / "tf-outputs.json"

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "kubeconfig"

    @property
    def manifests(self) -> Path:
        return self.directory / "manifests.yaml"

    @property
    def before_apply(self) -> Path:
        return self.directory / "before-apply.json"

    @property
    def secrets(self) -> Path:
        return self.directory / "secrets"

    @property
    def deploys(self) -> Path:
        return self.directory / "deploys"

    @property
    def last_deploy(self) -> Path:
        return self.directory / "last-deploy.json"


def write_json(path: Path, data: Any) -> Path:
    """Write JSON whole, then rename: a reader sees the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
    Path(handle.name).replace(path)
    return path


def read_json(path: Path, produced_by: str) -> dict[str, Any]:
    """A JSON object another task wrote, or StateMissing naming the command that writes it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StateMissing(f"{path} is missing: run `{produced_by}` first") from None
    except json.JSONDecodeError as exc:
        raise StateMissing(f"{path} is not valid JSON ({exc}); run `{produced_by}` again") from exc
    if not isinstance(data, dict):
        raise StateMissing(f"{path} should hold a JSON object; run `{produced_by}` again")
    return data


def ensure_secret_files(directory: Path) -> dict[str, Path]:
    """The app's keys as files (SECRET_FILES), generated on first use and kept afterwards.

    Existing files are never rewritten: orders already stored keep their card fingerprints.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = {}
    for variable, name in SECRET_FILES.items():
        path = directory / name
        try:
            # O_EXCL: created with its final mode, and never over a key that exists.
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(48))
        files[variable] = path
    return files
