"""The commit a deploy or an image is made from. Outside a git checkout: a message, not a trace."""

from __future__ import annotations

import shutil
from pathlib import Path

from ops.core.run import Runner
from ops.envconfig import REPO_ROOT

# git answers from the local checkout.
GIT_TIMEOUT_S = 30


class GitError(Exception):
    """git is missing or this is not a checkout; the message says what to do."""


def git(*args: str, cwd: Path = REPO_ROOT) -> str:
    """Run git in the checkout and return its stripped output."""
    program = shutil.which("git")
    if program is None:
        raise GitError("git is not installed; images are tagged with the commit, so install git")
    done = Runner().run([program, "-C", str(cwd), *args], timeout=GIT_TIMEOUT_S, warn=True)
    if done.exited != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit {done.exited}"])[-1]
        raise GitError(
            f"`git {' '.join(args)}` failed ({reason}); run from a git checkout of Orderdesk "
            "(images and deploys are named after the commit)"
        )
    return done.stdout.strip()


def head(cwd: Path = REPO_ROOT, *, short: int = 0) -> str:
    """The commit checked out (40 hex digits, or the first `short`)."""
    return git("rev-parse", f"--short={short}" if short else "--verify", "HEAD", cwd=cwd)


def changes(*paths: str, cwd: Path = REPO_ROOT) -> list[str]:
    """Uncommitted changes (porcelain lines), in the whole tree or under `paths`."""
    output = git("status", "--porcelain", *(["--", *paths] if paths else []), cwd=cwd)
    return output.splitlines()
