"""When Terraform may use the vault's data plane: after its roles apply and through its endpoint."""

from __future__ import annotations

import re

import pytest

from ops import envconfig
from ops.core import environments

KEY_VAULT = envconfig.REPO_ROOT / "infra" / "modules" / "key_vault"


def block(text: str, header: str) -> str:
    """The block that starts with `header` (e.g. `resource "kind" "name"`), braces matched."""
    start = text.index(header + " {")
    depth = 0
    for index in range(text.index("{", start), len(text)):
        depth += {"{": 1, "}": -1}.get(text[index], 0)
        if depth == 0:
            return text[start : index + 1]
    raise AssertionError(f"{header}: unbalanced braces")


def resource_block(text: str, kind: str, name: str) -> str:
    return block(text, f'resource "{kind}" "{name}"')


def depends_on(block: str) -> set[str]:
    found = re.search(r"^\s*depends_on\s*=\s*\[([^\]]*)\]", block, re.MULTILINE)
    return {item.strip() for item in found.group(1).split(",") if item.strip()} if found else set()


# Key Vault private link: with public network access disabled, data-plane calls are served only
# through the private endpoint (learn.microsoft.com/azure/key-vault/general/private-link-service).
@pytest.mark.parametrize(
    ("kind", "name"),
    [("azurerm_key_vault_secret", "this"), ("azurerm_key_vault_key", "image_signing")],
)
def test_the_vaults_secrets_and_key_are_written_only_after_its_private_endpoint(
    kind: str, name: str
) -> None:
    # prod's vault has no public access at all, so its first apply depends on this ordering.
    prod = environments.require_azure(envconfig.load("prod"))
    assert not prod.runners.ip_ranges
    main_tf = (KEY_VAULT / "main.tf").read_text(encoding="utf-8")
    assert 'module "private_endpoint"' in main_tf
    assert "module.private_endpoint" in depends_on(resource_block(main_tf, kind, name))


# Key Vault's RBAC guide, "Known limits and performance": a role applies up to 10 minutes after.
# MicrosoftDocs/azure-docs articles/key-vault/general/rbac-guide.md
@pytest.mark.parametrize(
    ("kind", "name"),
    [("azurerm_key_vault_secret", "this"), ("azurerm_key_vault_key", "image_signing")],
)
def test_the_vaults_secrets_and_key_wait_ten_minutes_for_key_vault_rbac(
    kind: str, name: str
) -> None:
    main_tf = (KEY_VAULT / "main.tf").read_text(encoding="utf-8")
    assert "time_sleep.role_propagation" in depends_on(resource_block(main_tf, kind, name))
    variables = (KEY_VAULT / "variables.tf").read_text(encoding="utf-8")
    default = re.search(
        r'default\s*=\s*"(\d+)s"', block(variables, 'variable "role_propagation_wait"')
    )
    assert default is not None
    assert int(default.group(1)) >= 600
    root = "\n".join(path.read_text(encoding="utf-8") for path in KEY_VAULT.parents[1].glob("*.tf"))
    assert "role_propagation_wait" not in root  # no environment shortens it
