"""Typed loader for infra/env.yaml, the single source of truth for every environment.

Read once, validated before any command runs, so a typo fails here with the path of the bad key
instead of halfway through a deploy.
"""

from __future__ import annotations

import datetime
import ipaddress
import itertools
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = REPO_ROOT / "infra" / "env.yaml"

# The last day of AKS standard support per Kubernetes minor, from the AKS release calendar
# (https://learn.microsoft.com/azure/aks/supported-kubernetes-versions#aks-kubernetes-release-calendar-and-upcoming-versions;
# a month there means its last day). The Standard tier has no LTS (that is Premium only), so a
# minor past its date cannot be created: it is refused before Terraform asks Azure, which would
# fail minutes into an apply. Add the next minor here when AKS announces it.
AKS_STANDARD_SUPPORT_ENDS: dict[str, datetime.date] = {
    "1.33": datetime.date(2026, 7, 31),
    "1.34": datetime.date(2026, 11, 30),
    "1.35": datetime.date(2027, 3, 31),
    "1.36": datetime.date(2027, 6, 30),
    "1.37": datetime.date(2027, 10, 31),
}
AKS_CALENDAR = "https://learn.microsoft.com/azure/aks/supported-kubernetes-versions"


def today() -> datetime.date:
    """The day support is judged on: the plan's day, in UTC (tests replace it)."""
    return datetime.datetime.now(datetime.UTC).date()


def aks_version_problem(version: str, on: datetime.date) -> str:
    """Why AKS would refuse to create `version` (minor or patch) on day `on`, or ""."""
    minor = ".".join(version.split(".")[:2])
    supported = sorted(
        (name for name, ends in AKS_STANDARD_SUPPORT_ENDS.items() if ends >= on),
        key=lambda name: int(name.split(".")[1]),
    )
    newest = supported[-1] if supported else None
    fix = (
        f"use {newest}, the newest minor in standard support"
        if newest
        else "add the current minors to AKS_STANDARD_SUPPORT_ENDS in ops/envconfig.py from "
        + AKS_CALENDAR
    )
    ends = AKS_STANDARD_SUPPORT_ENDS.get(minor)
    if ends is None:
        return f"Kubernetes {minor} is not in the AKS support table (ops/envconfig.py); {fix}"
    if ends < on:
        return (
            f"AKS standard support for Kubernetes {minor} ended on {ends.isoformat()} "
            f"(AKS release calendar), before {on.isoformat()}; {fix}"
        )
    return ""


DnsName = Annotated[
    str,
    Field(pattern=r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"),
]
ResourceName = Annotated[str, Field(pattern=r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,78}[a-zA-Z0-9_]$")]
Guid = Annotated[str, Field(pattern=r"^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$")]
# env.yaml's stand-ins for ids that only exist once someone creates the object in the tenant.
PLACEHOLDER_GUID_PREFIX = "00000000-0000-0000-0000-"


def is_placeholder(guid: str) -> bool:
    return guid.startswith(PLACEHOLDER_GUID_PREFIX)


class EnvConfigError(Exception):
    """env.yaml is missing, malformed or names an unknown environment."""


class Strict(BaseModel):
    # Unknown keys are typos until proven otherwise: refuse them, naming their path.
    # python-re: the DNS name pattern needs a lookahead, which the default Rust engine lacks.
    model_config = ConfigDict(extra="forbid", frozen=True, regex_engine="python-re")


class Database(Strict):
    engine: Literal["sqlite", "postgresql"]


class Gunicorn(Strict):
    workers: int = Field(default=2, ge=1, le=32)
    threads: int = Field(default=4, ge=1, le=64)


class App(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")]
    image_repository: Annotated[str, Field(pattern=r"^[a-z0-9.:-]+(/[a-z0-9._-]+)+$")]
    replicas: int = Field(ge=1, le=50)
    hosts: list[DnsName] = Field(min_length=1)
    database: Database
    gunicorn: Gunicorn = Gunicorn()


class Kubernetes(Strict):
    version: Annotated[str, Field(pattern=r"^1\.\d{2}$")]
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])


class Monitoring(Strict):
    grafana_host: DnsName
    prometheus_host: DnsName


class Registry(Strict):
    kind: Literal["local", "acr"]
    login_server: Annotated[str, Field(pattern=r"^[a-z0-9.-]+(:\d{1,5})?$")]


class TerraformState(Strict):
    resource_group: ResourceName
    storage_account: Annotated[str, Field(pattern=r"^[a-z0-9]{3,24}$")]
    container: Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9-]{1,61}[a-z0-9])$")]


class Subnets(Strict):
    aks: ipaddress.IPv4Network
    appgw: ipaddress.IPv4Network
    private_endpoints: ipaddress.IPv4Network
    database: ipaddress.IPv4Network
    # The self-hosted CI runner inside the VNet (needed where endpoints are private).
    runners: ipaddress.IPv4Network | None = None


class Network(Strict):
    vnet_cidr: ipaddress.IPv4Network
    subnets: Subnets

    @model_validator(mode="after")
    def _subnets_fit_and_do_not_overlap(self) -> Network:
        named = [(name, cidr) for name, cidr in self.subnets.model_dump().items() if cidr]
        for name, cidr in named:
            if not cidr.subnet_of(self.vnet_cidr):
                raise ValueError(f"subnet {name} ({cidr}) is outside vnet_cidr {self.vnet_cidr}")
        for (name_a, a), (name_b, b) in itertools.combinations(named, 2):
            if a.overlaps(b):
                raise ValueError(f"subnets {name_a} ({a}) and {name_b} ({b}) overlap")
        # Azure's own minimums: an application gateway v2 needs a /26; Azure CNI gives every pod
        # an address in the aks subnet, so anything smaller than a /22 runs out on a few nodes.
        if self.subnets.appgw.prefixlen > 26:
            raise ValueError(f"subnet appgw ({self.subnets.appgw}) must be a /26 or larger")
        if self.subnets.aks.prefixlen > 22:
            raise ValueError(f"subnet aks ({self.subnets.aks}) must be a /22 or larger")
        return self


class NodePool(Strict):
    vm_size: Annotated[str, Field(pattern=r"^Standard_[A-Za-z0-9_]+$")]
    min_count: int = Field(ge=1, le=100)
    max_count: int = Field(ge=1, le=1000)
    zones: list[Literal["1", "2", "3"]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _min_not_above_max(self) -> NodePool:
        if self.min_count > self.max_count:
            raise ValueError(f"min_count {self.min_count} is above max_count {self.max_count}")
        return self


def _no_whole_internet(ranges: list[ipaddress.IPv4Network]) -> list[ipaddress.IPv4Network]:
    if any(cidr.prefixlen == 0 for cidr in ranges):
        raise ValueError("0.0.0.0/0 lets the whole internet in; list the operators' networks")
    return ranges


class Aks(Strict):
    cluster_name: ResourceName
    # Left out of env.yaml: the environment's kubernetes.version, the minor the local cluster runs
    # and the manifests are validated against (Environment fills it in before validation).
    kubernetes_version: Annotated[str, Field(pattern=r"^1\.\d{2}(\.\d+)?$")]
    node_pool: NodePool
    # A private API server has only a VNet address; authorized ranges restrict a public one.
    # Required, so the choice is written in env.yaml and not as a second default beside the aks
    # module's.
    private_cluster: bool
    authorized_ip_ranges: list[ipaddress.IPv4Network] = Field(default_factory=list)
    # Entra ID groups given cluster-admin through Azure RBAC for Kubernetes (local accounts off).
    admin_group_object_ids: list[Guid] = Field(default_factory=list)
    # Kubernetes services get addresses from here; it must not overlap the VNet. None: the default
    # of infra/modules/network (written there once), which checks the overlap itself.
    service_cidr: ipaddress.IPv4Network | None = None

    _authorized_not_everyone = field_validator("authorized_ip_ranges")(_no_whole_internet)

    @model_validator(mode="after")
    def _ranges_match_exposure(self) -> Aks:
        if self.private_cluster and self.authorized_ip_ranges:
            raise ValueError(
                "authorized_ip_ranges only apply to a public API server: remove them, "
                "or set private_cluster: false"
            )
        if not self.private_cluster and not self.authorized_ip_ranges:
            raise ValueError(
                "a public API server (private_cluster: false) needs authorized_ip_ranges"
            )
        return self

    @field_validator("kubernetes_version")
    @classmethod
    def _in_standard_support(cls, version: str, info: ValidationInfo) -> str:
        problem = aks_version_problem(version, (info.context or {}).get("today") or today())
        if problem:
            raise ValueError(problem)
        return version


class Acr(Strict):
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9]{5,50}$")]
    sku: Literal["Basic", "Standard", "Premium"]

    @field_validator("sku")
    @classmethod
    def _private_endpoints_need_premium(cls, sku: str) -> str:
        if sku != "Premium":
            raise ValueError(
                f"sku {sku} cannot disable public access or have a private endpoint; use Premium"
            )
        return sku


# Terraform generates these into Key Vault (infra/secrets.tf); the app reads them.
GENERATED_SECRETS = ("django-secret-key", "card-fingerprint-key", "database-password")
# The Teams Workflows URL the Azure Monitor alarms post to: an ephemeral Terraform input that
# Terraform writes to Key Vault write-only, so it is in neither the plan file nor the state.
TEAMS_WEBHOOK_SECRET = "teams-webhook-url"  # noqa: S105  # nosec B105  # pragma: allowlist secret
KEY_VAULT_SECRETS = (*GENERATED_SECRETS, TEAMS_WEBHOOK_SECRET)
# A new value of these cannot stand in for a lost one: the database keeps the old password, and
# every stored card fingerprint was keyed with the old key. Never written again unasked.
IRREPLACEABLE_SECRETS = ("card-fingerprint-key", "database-password")


class KeyVault(Strict):
    name: Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$")]
    # Terraform writes the generated secrets through the vault's data plane: list the public
    # ranges apply runs from, or leave empty (no public access) and apply from inside the VNet.
    deployer_ip_ranges: list[ipaddress.IPv4Network] = Field(default_factory=list)
    # Each secret's write-only version: bump one to rotate that secret alone (the next apply
    # writes a fresh value of it, and the pods that read it restart). Every secret is listed:
    # the modules' versions default to 1 and env.yaml says which one is in force.
    secret_versions: dict[str, Annotated[int, Field(ge=1)]]

    _deployer_not_everyone = field_validator("deployer_ip_ranges")(_no_whole_internet)

    @field_validator("secret_versions")
    @classmethod
    def _every_secret_once(cls, versions: dict[str, int]) -> dict[str, int]:
        missing = [name for name in KEY_VAULT_SECRETS if name not in versions]
        unknown = sorted(set(versions) - set(KEY_VAULT_SECRETS))
        if missing or unknown:
            raise ValueError(
                f"needs a version for each of {', '.join(KEY_VAULT_SECRETS)}"
                + (f"; missing: {', '.join(missing)}" if missing else "")
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            )
        return versions

    @field_validator("name")
    @classmethod
    def _no_double_dash(cls, name: str) -> str:
        if "--" in name:
            raise ValueError("Key Vault names may not contain '--'")
        return name


class Runners(Strict):
    """Where the CI jobs that reach the registry, the vault and the API server run."""

    # Public egress ranges of the (hosted) runners: admitted by the registry's and the vault's
    # firewalls and the API server's authorized ranges. Empty: they run inside the VNet.
    # Required, so the choice is written in env.yaml. ACR takes at most 100 IP rules
    # (learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks).
    ip_ranges: list[ipaddress.IPv4Network] = Field(max_length=100)

    _runners_not_everyone = field_validator("ip_ranges")(_no_whole_internet)


class Identities(Strict):
    """The workflows' Entra ID identities, by object id (not secrets)."""

    # Applies Terraform and deploys: writes the vault's secrets, applies the manifests.
    deploy_object_id: Guid
    # Only plans: reads what a plan refreshes.
    plan_object_id: Guid


class AzureDatabase(Strict):
    kind: Literal["postgresql", "mssql"]
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    sku: str
    storage_mb: int = Field(ge=32768)
    backup_retention_days: int = Field(ge=7, le=35)


class Dns(Strict):
    zone: DnsName


EXPOSURES = ("public", "internal")


class Ingress(Strict):
    """Who reaches the app's and Grafana's hosts: the internet, or only the VNet.

    public: the gateway listens on its public IP, the public zone holds the hosts' A records and
    Let's Encrypt checks an HTTP-01 challenge through that listener. internal: the gateway listens
    only on private_ip (a static address in subnets.appgw), a private DNS zone of the same name
    linked to the VNet holds the records (split horizon), and cert-manager answers a DNS-01
    challenge in the public zone, which keeps no A record (infra/README.md, "Internal-only
    environments").
    """

    exposure: str = "public"
    private_ip: ipaddress.IPv4Address | None = None

    @field_validator("exposure")
    @classmethod
    def _known_exposure(cls, exposure: str) -> str:
        if exposure not in EXPOSURES:
            raise ValueError(
                f"exposure {exposure!r} is neither public (reachable from the internet) nor "
                "internal (only inside the VNet, on ingress.private_ip); write one of those"
            )
        return exposure

    @property
    def internal(self) -> bool:
        return self.exposure == "internal"


def private_frontend_problem(address: ipaddress.IPv4Address, subnet: ipaddress.IPv4Network) -> str:
    """Why Azure would refuse `address` as the gateway's static private frontend IP, or ""."""
    if address not in subnet:
        return (
            f"ingress.private_ip {address} is outside network.subnets.appgw ({subnet}): the "
            "gateway's private frontend takes an address of its own subnet; pick one there"
        )
    # Azure keeps the network address, the first three hosts and the broadcast address of every
    # subnet (learn.microsoft.com/azure/virtual-network/virtual-networks-faq, "restrictions on
    # using IP addresses within these subnets").
    offset = int(address) - int(subnet.network_address)
    if offset < 4 or address == subnet.broadcast_address:
        first = subnet.network_address + 4
        return (
            f"ingress.private_ip {address} is one of the five addresses Azure reserves in "
            f"{subnet}; pick one from {first} up"
        )
    return ""


# The evaluation windows an Azure metric alert offers above its one-minute frequency (there is no
# 10-minute window). Kept in step with infra/modules/alerts/variables.tf by a test.
AlertWindow = Literal["PT5M", "PT15M", "PT30M", "PT1H"]


class MetricAlarm(Strict):
    """One Azure Monitor alarm; a key left out keeps the alerts module's default.

    The defaults (80 %, PT5M, severity 2; pods: 0, PT15M, 2) are written once, in
    infra/modules/alerts/variables.tf: None here means "the module decides".
    """

    threshold: float | None = Field(default=None, ge=0)
    window: AlertWindow | None = None
    # Azure Monitor severities: 0 critical, 1 error, 2 warning, 3 informational, 4 verbose.
    severity: int | None = Field(default=None, ge=0, le=4)


class Alerts(Strict):
    """Azure Monitor alarms on the cluster, outside it (they fire when Prometheus cannot)."""

    node_cpu: MetricAlarm = MetricAlarm()
    node_memory: MetricAlarm = MetricAlarm()
    pods_failed_or_pending: MetricAlarm = MetricAlarm()

    @model_validator(mode="after")
    def _thresholds_fit_their_unit(self) -> Alerts:
        for name in ("node_cpu", "node_memory"):
            threshold = getattr(self, name).threshold
            if threshold is not None and not 0 < threshold < 100:
                raise ValueError(f"{name}.threshold is a percentage: give one between 0 and 100")
        pods = self.pods_failed_or_pending.threshold
        if pods is not None and pods != int(pods):
            raise ValueError("pods_failed_or_pending.threshold is a pod count: give a whole number")
        return self


# Microsoft Entra ID: the app registration people sign in through (ops/entra.py applies it).
# The app's routes (app/accounts/urls.py): the OIDC callback is the redirect URI, and Entra sends a
# signed-out browser only to a registered redirect URI, so the signed-out page is one too
# (learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#send-a-sign-out-request).
REDIRECT_PATHS = ("/auth/oidc/callback", "/auth/signed-out")
# learn.microsoft.com/entra/identity-platform/reply-url: at most 256 redirect URIs for a
# work-or-school (AzureADMyOrg) app, 256 characters each, https except localhost, and none of these.
MAX_REDIRECT_URIS = 256
MAX_REDIRECT_URI_LENGTH = 256
REDIRECT_URI_FORBIDDEN = "!$'(),;"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def redirect_uris(hosts: list[str]) -> list[str]:
    """The web redirect URIs of the app registration: every path of REDIRECT_PATHS on every host."""
    return [f"https://{host}{path}" for host in hosts for path in REDIRECT_PATHS]


def redirect_uri_problem(uri: str) -> str:
    """Why Entra would refuse `uri` as a web redirect URI, or ""."""
    parts = urlsplit(uri)
    if parts.scheme != "https" and not (
        parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
    ):
        return f"{uri}: a redirect URI must use https (http only for localhost)"
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        return f"{uri}: longer than {MAX_REDIRECT_URI_LENGTH} characters; use a shorter host name"
    bad = sorted({char for char in uri if char in REDIRECT_URI_FORBIDDEN})
    if bad:
        return f"{uri}: Entra refuses the characters {' '.join(bad)} in a redirect URI"
    return ""


# appRole.value (learn.microsoft.com/graph/api/resources/approle): at most 120 characters, no
# space, only these. The app matches these values (app/accounts/roles.py ENTRA_ROLE_VALUES).
AppRoleValue = Annotated[
    str, Field(pattern=r"^[0-9A-Za-z!#$%&'()*+,\-./:;<=>?@\[\]^_`{|}~]{1,120}$")
]


class AppRole(Strict):
    """One app role: what arrives in the ID token's `roles` claim, and the groups that hold it."""

    value: AppRoleValue
    display_name: Annotated[str, Field(min_length=1, max_length=100)]
    description: Annotated[str, Field(min_length=1, max_length=400)]
    # Chosen once and never changed: Entra keys the role (and every assignment to it) on this id.
    id: Guid
    # Entra ID group object ids given this role (app role assignments to groups).
    groups: list[Guid] = Field(default_factory=list)


class Entra(Strict):
    """The app registration, its service principal, role assignments and federated credential."""

    # The registration's alternate key (Graph `uniqueName`): a rerun finds the app it created.
    # Unique in the tenant, so different for every environment that shares one.
    unique_name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")]
    display_name: Annotated[str, Field(min_length=1, max_length=120)]
    sign_in_audience: str
    app_role_assignment_required: bool
    # The registration's appId, which Entra chooses when it creates the app (`invoke azure.entra`
    # prints it); the pods get it as ORDERDESK_ENTRA_CLIENT_ID. A placeholder until then.
    client_id: Guid
    # Whom a signed-in user without a role should ask (ORDERDESK_ACCESS_CONTACT).
    access_contact: Annotated[str, Field(max_length=200)] = ""
    roles: list[AppRole] = Field(min_length=1)

    @field_validator("sign_in_audience")
    @classmethod
    def _single_tenant(cls, audience: str) -> str:
        if audience != "AzureADMyOrg":
            raise ValueError(
                f"sign_in_audience {audience!r}: Orderdesk signs in one tenant's accounts only "
                "(it checks the token's tid); use AzureADMyOrg"
            )
        return audience

    @field_validator("app_role_assignment_required")
    @classmethod
    def _assignment_required(cls, required: bool) -> bool:
        if not required:
            raise ValueError(
                "app_role_assignment_required false lets every account in the tenant sign in "
                "(with no role); set it to true so only the assigned groups get a token"
            )
        return required

    @model_validator(mode="after")
    def _roles_are_distinct(self) -> Entra:
        for key in ("value", "id"):
            seen = [getattr(role, key) for role in self.roles]
            repeated = sorted({item for item in seen if seen.count(item) > 1})
            if repeated:
                raise ValueError(f"roles repeat the {key} {', '.join(repeated)}; give each its own")
        return self


class Azure(Strict):
    subscription_id: Guid
    tenant_id: Guid
    location: Annotated[str, Field(pattern=r"^[a-z0-9]+$")]
    resource_group: ResourceName
    state: TerraformState
    network: Network
    aks: Aks
    acr: Acr
    key_vault: KeyVault
    database: AzureDatabase
    dns: Dns
    identities: Identities
    runners: Runners
    entra: Entra
    alerts: Alerts = Alerts()
    # Left out: public, as every environment was before internal ones existed.
    ingress: Ingress = Ingress()

    @model_validator(mode="after")
    def _internal_ingress_has_its_private_ip(self) -> Azure:
        address, subnet = self.ingress.private_ip, self.network.subnets.appgw
        if self.ingress.internal and address is None:
            raise ValueError(
                "ingress.exposure internal needs ingress.private_ip, the gateway's static "
                f"private frontend address: add one from network.subnets.appgw ({subnet})"
            )
        if not self.ingress.internal and address is not None:
            raise ValueError(
                "ingress.private_ip is used only with ingress.exposure internal: remove it, or "
                "set exposure: internal"
            )
        problem = private_frontend_problem(address, subnet) if address is not None else ""
        if problem:
            raise ValueError(problem)
        # The deploy's HTTPS smoke test asks the app's host, which only the VNet resolves.
        if self.ingress.internal and self.network.subnets.runners is None:
            raise ValueError(
                "ingress.exposure internal: the hosts answer only inside the VNet, where the "
                "deploy's HTTPS smoke test must run too; add network.subnets.runners for the "
                "self-hosted runner"
            )
        return self

    @model_validator(mode="after")
    def _private_endpoints_have_a_runner_inside(self) -> Azure:
        reasons = []
        if self.aks.private_cluster:
            reasons.append("the API server is private (aks.private_cluster)")
        if not self.runners.ip_ranges:
            reasons.append("no runner ranges are admitted from the internet (runners.ip_ranges)")
        if reasons and self.network.subnets.runners is None:
            raise ValueError(
                f"{' and '.join(reasons)}, so CI can deploy only from inside the VNet: add "
                "network.subnets.runners for the self-hosted runner, or list the runners' public "
                "ranges in runners.ip_ranges (for a public API server)"
            )
        return self

    @model_validator(mode="after")
    def _service_cidr_outside_vnet(self) -> Azure:
        if self.aks.service_cidr is not None and self.aks.service_cidr.overlaps(
            self.network.vnet_cidr
        ):
            raise ValueError(
                f"aks.service_cidr ({self.aks.service_cidr}) overlaps network.vnet_cidr "
                f"({self.network.vnet_cidr}); pick a range outside the VNet"
            )
        return self


class Environment(Strict):
    app: App
    kubernetes: Kubernetes
    monitoring: Monitoring
    registry: Registry
    azure: Azure | None = None
    # Filled in by the loader from the key under `environments:`.
    name: str = ""

    @property
    def is_local(self) -> bool:
        return self.azure is None

    @model_validator(mode="before")
    @classmethod
    def _aks_runs_the_local_minor_by_default(cls, data: Any) -> Any:
        """azure.aks.kubernetes_version left out: the environment's kubernetes.version. Anything
        malformed is left to the fields' own validation, which names it."""
        if not isinstance(data, dict):
            return data
        azure, kubernetes = data.get("azure"), data.get("kubernetes")
        if not isinstance(azure, dict) or not isinstance(kubernetes, dict):
            return data
        aks = azure.get("aks")
        if not isinstance(aks, dict):
            return data
        if aks.get("kubernetes_version") is not None or "version" not in kubernetes:
            return data
        aks = {**aks, "kubernetes_version": str(kubernetes["version"])}
        return {**data, "azure": {**azure, "aks": aks}}

    @model_validator(mode="after")
    def _registry_matches_platform(self) -> Environment:
        if self.registry.kind == "acr" and self.azure is None:
            raise ValueError("registry.kind 'acr' needs an azure block")
        if self.azure is not None and self.registry.kind == "acr":
            expected = f"{self.azure.acr.name.lower()}.azurecr.io"
            if self.registry.login_server != expected:
                raise ValueError(
                    f"registry.login_server should be {expected} to match azure.acr.name"
                )
        if not self.app.image_repository.startswith(self.registry.login_server + "/"):
            raise ValueError(
                f"app.image_repository must live in registry {self.registry.login_server}"
            )
        if self.azure is not None:
            zone = self.azure.dns.zone
            hosts = [*self.app.hosts, self.monitoring.grafana_host, self.monitoring.prometheus_host]
            outside = [host for host in hosts if host != zone and not host.endswith("." + zone)]
            if outside:
                raise ValueError(f"hosts {', '.join(outside)} are outside azure.dns.zone {zone}")
            uris = redirect_uris(self.app.hosts)
            if len(uris) > MAX_REDIRECT_URIS:
                raise ValueError(
                    f"app.hosts make {len(uris)} Entra redirect URIs, over its limit of "
                    f"{MAX_REDIRECT_URIS}; list fewer hosts"
                )
            problems = [problem for problem in map(redirect_uri_problem, uris) if problem]
            if problems:
                raise ValueError("app.hosts: " + "; ".join(problems))
        return self


class EnvFile(Strict):
    environments: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")], Environment]

    @model_validator(mode="after")
    def _entra_unique_names_differ(self) -> EnvFile:
        # Environments may share a tenant, where a uniqueName names one app registration.
        owners: dict[str, list[str]] = {}
        for name, environment in self.environments.items():
            if environment.azure is not None:
                owners.setdefault(environment.azure.entra.unique_name, []).append(name)
        shared = {key: names for key, names in owners.items() if len(names) > 1}
        if shared:
            key, names = next(iter(shared.items()))
            raise ValueError(
                f"environments {' and '.join(names)} share azure.entra.unique_name {key!r}: in "
                "one tenant they would be one app registration; give each its own"
            )
        return self


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path} is not valid:"]
    for item in error.errors():
        location = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = re.sub(r"^Value error, ", "", item["msg"])
        lines.append(f"  {location}: {message}")
    lines.append("Fix these keys in env.yaml and run the command again.")
    return "\n".join(lines)


def load_all(path: Path = ENV_FILE, *, on: datetime.date | None = None) -> dict[str, Environment]:
    """Parse and validate every environment in env.yaml, judging AKS support on day `on`
    (default: today)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise EnvConfigError(f"{path} not found; it defines the environments to deploy") from exc
    except yaml.YAMLError as exc:
        raise EnvConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise EnvConfigError(f"{path} must be a mapping with an 'environments' key")
    try:
        parsed = EnvFile.model_validate(raw, context={"today": on or today()})
    except ValidationError as exc:
        raise EnvConfigError(_describe(exc, path)) from exc
    return {
        name: env.model_copy(update={"name": name}) for name, env in parsed.environments.items()
    }


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int, on: datetime.date) -> dict[str, Environment]:
    return load_all(path, on=on)


def load(name: str, path: Path = ENV_FILE) -> Environment:
    """Return one environment, or an error that lists the known ones."""
    try:
        mtime = path.stat().st_mtime_ns
    except FileNotFoundError as exc:
        raise EnvConfigError(f"{path} not found; it defines the environments to deploy") from exc
    environments = _cached(path, mtime, today())
    if name not in environments:
        known = ", ".join(sorted(environments))
        raise EnvConfigError(f"unknown environment {name!r}; known environments: {known}")
    return environments[name]
