"""Orderdesk's invoke settings, typed: each section's defaults beside its dataclass, one reader.

invoke's precedence decides every value: these defaults < invoke.yaml < INVOKE_* environment
variables < command-line flags (a task's flag wins over the setting it overrides). tasks.py
registers `config_defaults()` with its collection once: invoke reads an INVOKE_K8S_KUBECONFIG only
for a key its configuration already has.

    state_dir                       where tasks keep per-environment state (ops/core/state.py)
    env_file                        the env.yaml every task reads (empty: infra/env.yaml)
    deploy.*  DeploySettings        deploy's own waits and the smoke test's CAs
    k8s.*     KubeSettings          where kubectl and helm act, the manifests, rollout bounds
    image.*   ImageSettings         how images are built and signed
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from invoke.config import Config
from invoke.exceptions import Exit

from ops.core.environments import BAD_INPUT
from ops.envconfig import ENV_FILE

KINDS = {int: "a whole number", float: "a number", str: "text"}


def _section_of(cls: type[Any], config: Any) -> Any:
    """One section of invoke's configuration as `cls`: its defaults overlaid with what is set,
    each value turned into the field's type (INVOKE_* variables arrive as text)."""
    configured = config.get(cls.SECTION, {}) if config is not None else {}
    values = {}
    for item in dataclasses.fields(cls):
        value = configured.get(item.name) if hasattr(configured, "get") else None
        if value is None:
            continue
        kind: type[Any] = type(item.default)
        try:
            values[item.name] = kind(value)
        except (TypeError, ValueError) as exc:
            raise Exit(
                f"setting {cls.SECTION}.{item.name} = {value!r} is not {KINDS[kind]}; fix "
                f"invoke.yaml or INVOKE_{cls.SECTION.upper()}_{item.name.upper()}",
                code=BAD_INPUT,
            ) from exc
    return cls(**values)


@dataclass(frozen=True)
class DeploySettings:
    """`deploy.*`: how long the Certificate and the HTTPS smoke test are waited for, and which CAs
    the smoke test trusts. A first deploy waits for Let's Encrypt's HTTP-01 challenge (AGIC adds
    the solver's path to the gateway), the issuance, then AGIC installing the certificate on the
    listener: each gateway update takes "somewhere between a second and a few minutes" (AGIC
    docs/how-tos/minimize-downtime-during-deployments.md), so the bounds are generous."""

    SECTION = "deploy"
    certificate_timeout: float = 900.0
    certificate_interval: float = 15.0
    smoke_timeout: float = 300.0
    smoke_interval: float = 5.0
    # The local cluster's smoke test through its Service: no gateway, no certificate.
    service_smoke_timeout: float = 120.0
    # A PEM bundle for the ingress's certificate; empty: certifi's public CAs (requests' own).
    ca_bundle: str = ""


@dataclass(frozen=True)
class KubeSettings:
    """`k8s.*`: where kubectl and helm act, which manifests, how long a rollout may take."""

    SECTION = "k8s"
    # Empty: .data/<env>/kubeconfig when it exists, else kubectl's own (KUBECONFIG, ~/.kube/config).
    kubeconfig: str = ""
    # The context for local environments (empty: the kubeconfig's current one); cloud ones
    # always use their AKS cluster's name.
    local_context: str = ""
    # Empty: ~/.cache/orderdesk/bin, else PATH.
    kubectl: str = ""
    helm: str = ""
    request_timeout: int = 10
    # Empty: the repository's manifests/ (tests point it elsewhere).
    manifests_dir: str = ""
    # How long a rollout (or a return to the revision before it) may take, in seconds.
    rollout_timeout: int = 300


@dataclass(frozen=True)
class ImageSettings:
    """`image.*`: how the app image is built and signed."""

    SECTION = "image"
    # The sandbox engine has no bridge network; builds reach PyPI through the host's network.
    build_network: str = "host"
    # PEM bundle the build trusts for PyPI; empty: the one the host's pip trusts, if any.
    ca_bundle: str = ""
    # The Key Vault key that signs images of Azure environments (Terraform creates it).
    signing_key_name: str = "image-signing"


@dataclass(frozen=True)
class Settings:
    """Every setting a task reads, read once from invoke's configuration."""

    env_file: Path = ENV_FILE
    deploy: DeploySettings = field(default_factory=DeploySettings)
    k8s: KubeSettings = field(default_factory=KubeSettings)
    image: ImageSettings = field(default_factory=ImageSettings)

    @classmethod
    def read(cls, config: Config | None) -> Self:
        """The one reader of Orderdesk's sections of invoke's configuration."""
        env_file = config.get("env_file") if config is not None else None
        return cls(
            env_file=Path(env_file) if env_file else ENV_FILE,
            deploy=_section_of(DeploySettings, config),
            k8s=_section_of(KubeSettings, config),
            image=_section_of(ImageSettings, config),
        )


SECTIONS = (DeploySettings, KubeSettings, ImageSettings)


def config_defaults() -> dict[str, Any]:
    """What tasks.py registers with invoke: every key, so invoke.yaml and INVOKE_* reach it.

    A top-level task (deploy, status, destroy) sees only the root's configuration, not its
    subcollections': the sections live at the root for every task to see."""
    return {
        "run": {"echo": True, "pty": False},
        # Where tasks keep per-environment state (ops/core/state.py); empty: .data/ here.
        "state_dir": "",
        # Which env.yaml every task reads; empty: infra/env.yaml (tests point it elsewhere).
        "env_file": "",
        **{section.SECTION: dataclasses.asdict(section()) for section in SECTIONS},
    }
