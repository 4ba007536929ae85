"""The one place that knows how to call Terraform.

python-terraform (unmaintained since 2020) composes the command lines; we run them through the
invoke Context so they echo, stream, get our environment and can be checked with MockContext.
We do not use its runner or convenience methods, because of what they do with current Terraform
(each seen with Terraform 1.15 and python-terraform 0.10.1):

- `Terraform.destroy()` always adds `-force`, removed in Terraform 0.15: it fails with "flag
  provided but not defined: -force". We destroy by `plan -destroy -out` and applying that plan.
- `Terraform.plan()` adds `-detailed-exitcode`, so with `raise_on_error=True` a successful plan
  that has changes (exit code 2) raises TerraformCommandError.
- Every method merges the instance's `variables` into a temporary `-var-file` on disk, even for
  `init` and for applying a saved plan; `init()` adds `-reconfigure` unless told not to.
- `Terraform.cmd()` passes only `os.environ` to the child, not an environment of our own
  (TF_CLI_CONFIG_FILE, TF_DATA_DIR).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.context import Context
from invoke.runners import Result
from python_terraform import IsFlagged, Terraform

from ops.core.run import Runner
from ops.toolchain import CACHE_DIR, find

# Written by tools/build/terraform: azurerm from the local provider mirror, no checkpoint calls.
MIRROR_CLI_CONFIG = CACHE_DIR / "terraform" / "terraformrc"
# An apply that creates an AKS cluster and its node pools takes well over half an hour.
TERRAFORM_TIMEOUT_S = 2 * 3600


class TerraformNotFound(Exception):
    """No terraform program in the cache or on PATH."""


def terraform_program() -> str:
    program = find("terraform")
    if program is None:
        raise TerraformNotFound(
            "terraform not found in ~/.cache/orderdesk/bin or on PATH; "
            "run tools/build/terraform (or scripts/bootstrap --system)"
        )
    return program


def terraform_env(
    *, data_dir: Path | None = None, use_mirror: bool | None = None
) -> dict[str, str]:
    """Environment for a terraform run: no prompts, no phoning home, our CLI config.

    The provider mirror is used when asked, or by default when it exists and the caller has no
    TF_CLI_CONFIG_FILE of their own (the machine's may name a file that does not exist).
    """
    env = {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    if use_mirror is None:
        use_mirror = (
            MIRROR_CLI_CONFIG.is_file()
            and not Path(os.environ.get("TF_CLI_CONFIG_FILE", "/nonexistent")).is_file()
        )
    if use_mirror:
        env["TF_CLI_CONFIG_FILE"] = str(MIRROR_CLI_CONFIG)
    if data_dir is not None:
        env["TF_DATA_DIR"] = str(data_dir)
    return env


@dataclass
class TerraformCli:
    """Terraform command lines for one working directory, run through an invoke Context."""

    working_dir: Path
    program: str = field(default_factory=terraform_program)
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Only the command-line composer is used; see the module docstring for why.
        self._composer = Terraform(
            working_dir=str(self.working_dir), terraform_bin_path=self.program
        )

    def _argv(self, command: str, *args: str, **options: Any) -> list[str]:
        argv = self._composer.generate_cmd_string(command, *args, **options)
        return [argv[0], f"-chdir={self.working_dir}", *argv[1:]]

    # Each method returns the argv; run() executes one.
    def init_argv(self, backend_config: Mapping[str, str] | None = None) -> list[str]:
        """init; without backend_config the backend is skipped (validation, tests)."""
        if backend_config is None:
            return self._argv("init", input=False, no_color=IsFlagged, backend=False)
        return self._argv(
            "init",
            input=False,
            no_color=IsFlagged,
            reconfigure=IsFlagged,
            # The committed lock file decides the provider builds: init may not change it, so a
            # provider released between plan and apply cannot slip in.
            lockfile="readonly",
            backend_config=dict(backend_config),
        )

    def get_argv(self) -> list[str]:
        """`terraform get`: installs the (local) modules only, no providers and no backend."""
        return self._argv("get", no_color=IsFlagged)

    def providers_lock_argv(self, platforms: Sequence[str]) -> list[str]:
        """`terraform providers lock`: the registry's checksums for each platform."""
        # The composer puts options after the first word and arguments last; `lock` is part of
        # the command, so it goes first and `providers` before it.
        program, chdir, *rest = self._argv("lock", no_color=IsFlagged, platform=list(platforms))
        return [program, chdir, "providers", *rest]

    def validate_argv(self) -> list[str]:
        return self._argv("validate", no_color=IsFlagged)

    def fmt_check_argv(self) -> list[str]:
        return self._argv("fmt", check=IsFlagged, recursive=IsFlagged, diff=IsFlagged)

    def test_argv(self) -> list[str]:
        """`terraform test`: the tests/*.tftest.hcl files of the working directory."""
        return self._argv("test", no_color=IsFlagged)

    def plan_argv(
        self,
        plan_file: Path,
        variables: Mapping[str, str],
        *,
        destroy: bool = False,
        targets: Sequence[str] = (),
    ) -> list[str]:
        return self._argv(
            "plan",
            input=False,
            no_color=IsFlagged,
            lock_timeout="5m",
            destroy=IsFlagged if destroy else None,
            # Plain -var=name=value options: a dict would become a temporary -var-file.
            var=[f"{name}={value}" for name, value in variables.items()],
            target=list(targets) or None,
            out=str(plan_file),
        )

    def apply_plan_argv(self, plan_file: Path) -> list[str]:
        # A saved plan is applied as it is: no variables, no approval prompt.
        return self._argv(
            "apply", str(plan_file), input=False, no_color=IsFlagged, lock_timeout="5m", var=None
        )

    def show_plan_json_argv(self, plan_file: Path) -> list[str]:
        return self._argv("show", str(plan_file), json=IsFlagged, no_color=IsFlagged)

    def output_json_argv(self) -> list[str]:
        return self._argv("output", json=IsFlagged, no_color=IsFlagged)

    def run(
        self,
        c: Context,
        argv: Sequence[str],
        *,
        hide: bool = False,
        warn: bool = False,
        timeout: float = TERRAFORM_TIMEOUT_S,
    ) -> Result:
        return Runner(c).run(
            argv,
            env=self.env,
            hide=hide,
            warn=warn,
            timeout=timeout,
            fix="terraform's output above names the resource and the reason",
            fix_timeout="terraform hung (a state lock, a provider waiting on Azure); "
            "`terraform force-unlock` only if no other run holds the lock, then run it again",
        )

    def run_json(self, c: Context, argv: Sequence[str]) -> Any:
        result = self.run(c, argv, hide=True)
        return json.loads(result.stdout)
