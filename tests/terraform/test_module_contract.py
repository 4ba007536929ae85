"""The module contract, checked on the files (fast, no terraform needed).

The contract is terraform-aws-modules' and Azure Verified Modules' layout: main/variables/outputs/
terraform.tf, a README, `terraform test` files with mocked providers, an `examples/` root, every
variable validation exercised by a failing run, no file reads, each default written once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ops.envconfig import AKS_STANDARD_SUPPORT_ENDS, REPO_ROOT

MODULES_DIR = REPO_ROOT / "infra" / "modules"
MODULES = sorted(path for path in MODULES_DIR.iterdir() if path.is_dir())
ROOT_TF = sorted((REPO_ROOT / "infra").glob("*.tf"))


def test_there_are_modules_to_check() -> None:
    # The parametrized tests below pass vacuously over an empty list; this one cannot.
    assert len(MODULES) >= 5, MODULES


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def tftest_text(module: Path) -> str:
    return "\n".join(read(path) for path in sorted((module / "tests").glob("*.tftest.hcl")))


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_module_has_the_standard_files(module: Path) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "terraform.tf", "README.md"):
        assert (module / name).is_file(), f"{module.name} lacks {name}"
    assert list((module / "tests").glob("*.tftest.hcl")), f"{module.name} has no tests"


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_module_pins_terraform_and_azurerm_without_provider_blocks(module: Path) -> None:
    versions = read(module / "terraform.tf")
    assert 'required_version = ">= 1.11, < 2.0"' in versions
    assert re.search(r'source\s+= "hashicorp/azurerm"\s+version\s+= "~> 5\.2"', versions)
    for name in ("main.tf", "variables.tf", "outputs.tf", "terraform.tf"):
        assert not re.search(r'^provider "', read(module / name), flags=re.MULTILINE)


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_every_validation_has_a_run_that_expects_it_to_fail(module: Path) -> None:
    validations = len(re.findall(r"^\s+validation \{", read(module / "variables.tf"), re.MULTILINE))
    expecting = len(re.findall(r"^\s+expect_failures = ", tftest_text(module), re.MULTILINE))
    assert validations > 0
    assert expecting >= validations, (
        f"{module.name}: {validations} validations but only {expecting} runs expect a failure"
    )


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_every_test_file_mocks_the_provider_and_only_plans(module: Path) -> None:
    text = tftest_text(module)
    assert 'mock_provider "azurerm"' in text
    runs = len(re.findall(r'^run "', text, re.MULTILINE))
    assert runs > 0
    plans = len(re.findall(r"^\s+command = plan$", text, re.MULTILINE))
    # An apply only where the runs after it need the state it leaves, and its name says so
    # (key_vault: a secret an earlier apply wrote).
    applies = re.findall(r'^run "(\w+)" \{\n\s+command = apply$', text, re.MULTILINE)
    assert all("apply" in name for name in applies), applies
    assert plans + len(applies) == runs


@pytest.mark.parametrize("module", MODULES, ids=lambda path: path.name)
def test_module_has_an_example_root(module: Path) -> None:
    examples = sorted(path for path in (module / "examples").glob("*") if path.is_dir())
    assert examples, f"{module.name} has no examples/<name>/ root"
    for example in examples:
        text = read(example / "main.tf")
        assert re.search(r'source\s+= "\.\./\.\."', text), f"{example} must call the module"


def test_the_root_repeats_no_module_default() -> None:
    """An optional env.yaml key left out reaches its module as null: the module's default applies.

    A literal fallback in the root (try(local.x, "172.16.0.0/16")) would write that default twice.
    """
    fallbacks = [
        fallback
        for path in ROOT_TF
        for fallback in re.findall(r"try\(local\.[\w.]+,\s*([^)]+)\)", read(path))
    ]
    assert fallbacks, "the root passes optional env.yaml keys with try(local..., null)"
    assert set(fallbacks) == {"null"}


def test_modules_read_no_files() -> None:
    files = [path for module in MODULES for path in module.glob("*.tf")]
    assert len(files) >= 4 * len(MODULES)
    for path in files:
        assert not re.search(r"\b(file|yamldecode|templatefile)\(", read(path)), path


def test_the_terraform_version_window_matches_envconfig() -> None:
    """The aks module and ops/envconfig.py must refuse the same Kubernetes minors."""
    rule = re.search(
        r'regex\("\^1\\\\\.\(3\[(\d)-(\d)\]\)', read(MODULES_DIR / "aks" / "variables.tf")
    )
    assert rule, "the kubernetes_version rule in modules/aks/variables.tf changed shape"
    low, high = 30 + int(rule.group(1)), 30 + int(rule.group(2))
    assert [f"1.{minor}" for minor in range(low, high + 1)] == list(AKS_STANDARD_SUPPORT_ENDS)
