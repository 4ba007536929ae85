"""Returning to what ran before a deploy: the revision recorded before apply, and nothing else.

`rollout undo` changes only the Deployment's pod template. So it is right only when this apply
moved the Deployment to a new revision, and only to the revision that ran before it: when the
template did not change (only a Service, Ingress, NetworkPolicy or HPA did, or the same digest was
applied again) a plain undo would bring back the *previous deploy's* image and leave the breaking
change in place. k8s.apply records the revision before it sends anything (before-apply.json);
a failed rollout (k8s.rollout) or smoke test (deploy) returns to exactly that ReplicaSet, waits
for it, and says what no undo can restore.
"""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass
from typing import Any

from invoke.exceptions import Exit

from ops.core import state
from ops.core.target import Target
from ops.k8s.cluster import DEPLOYMENT, Kubectl, Revision

# `kubectl apply` reports each object as created, configured, unchanged (or serverside-applied).
CHANGED = (" created", " configured", " serverside-applied")


@dataclass(frozen=True)
class Undo:
    """How a return to the recorded revision went. `restored`: that revision runs again and is
    ready (worth a smoke test)."""

    restored: bool
    message: str


def record_before_apply(target: Target, kubectl: Kubectl, image: str) -> None:
    """Write what runs now, before apply changes anything (a crash mid-apply keeps it)."""
    before = kubectl.cluster.current_revision()
    record: dict[str, Any] = {
        "revision": before.number if before else None,
        "replica_set": before.replica_set if before else "",
        "image": before.image if before else "",
        "applying": image,
        "changed": [],
        "recorded": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    state.write_json(target.state.before_apply, record)


def record_changes(target: Target, apply_output: str) -> list[str]:
    """Add what apply created or changed (its own report) to the record."""
    path = target.state.before_apply
    record = state.read_json(path, f"invoke k8s.apply --env {target.name}")
    changed = [line.strip() for line in apply_output.splitlines() if line.endswith(CHANGED)]
    state.write_json(path, {**record, "changed": changed})
    return changed


def not_undone(record: dict[str, Any], moved: bool) -> str:
    """What a `rollout undo` leaves as this deploy made it, said plainly."""
    objects = [
        line
        for line in record.get("changed", [])
        # The Deployment's own change is undone with its template when the revision moved.
        if not (moved and line.startswith("deployment.apps/"))
    ]
    parts = []
    if objects:
        parts.append(
            "not undone (an undo restores only the Deployment's pod template): "
            + ", ".join(objects)
        )
    if moved:
        parts.append(
            "database migrations the new revision's migrate container ran (if any) stay applied"
        )
    if not parts:
        return "this apply changed nothing else"
    return "; ".join(parts) + ". Fix them in manifests/ (or the image) and deploy again"


def return_to_recorded(target: Target, kubectl: Kubectl, timeout: int) -> Undo:
    """Undo the deploy to the revision recorded before apply, only if the Deployment has moved
    off it; wait for it to be ready; say what runs now and what stays changed."""
    path = target.state.before_apply
    try:
        record = state.read_json(path, f"invoke k8s.apply --env {target.name}")
    except state.StateMissing as exc:
        return Undo(
            False,
            f"not rolled back: no record of the revision that ran before apply ({exc}); "
            f"return by hand with `invoke k8s.rollback --env {target.name} --revision N`",
        )
    if record["revision"] is None:
        return Undo(
            False,
            f"not rolled back: this was the first install of {DEPLOYMENT}, so there is no "
            f"earlier revision to return to; {not_undone(record, moved=False)}",
        )
    now = kubectl.cluster.current_revision()
    if now is None:
        return Undo(False, f"not rolled back: {DEPLOYMENT} is gone from the cluster")
    if now.replica_set == record["replica_set"]:
        return Undo(
            False,
            f"not rolled back: {DEPLOYMENT} still runs {now.describe()}, the revision that ran "
            "before this deploy (its pod template did not change), so there is nothing to undo "
            f"and an undo would bring back an older image; {not_undone(record, moved=False)}",
        )
    # An undo renumbers the ReplicaSet it returns to: find the recorded one by name.
    recorded = next(
        (rs for rs in kubectl.cluster.replica_sets() if rs.name == record["replica_set"]), None
    )
    if recorded is None:
        return Undo(
            False,
            f"not rolled back: the revision that ran before ({record['replica_set']}, "
            f"{record['image']}) is no longer in {DEPLOYMENT}'s history; "
            f"{not_undone(record, moved=True)}",
        )
    # kubectl, not the API: an undo is a change like apply (kubectl copies the ReplicaSet's pod
    # template back into the Deployment), and its command line is what the deploy log shows.
    undo = kubectl.run(
        "rollout", "undo", DEPLOYMENT, f"--to-revision={recorded.revision}", warn=True
    )
    if not undo.ok:
        return Undo(
            False,
            f"could not be rolled back to revision {recorded.revision} "
            f"({undo.stderr.strip()}); {not_undone(record, moved=True)}",
        )
    back = f"revision {recorded.revision} ({recorded.image})"
    ready = wait_for_undo(kubectl, timeout)
    running = kubectl.cluster.current_revision()
    if not ready or running is None or running.replica_set != record["replica_set"]:
        return Undo(
            False,
            f"rolled back to {back}, the one that ran before, but it is not ready after "
            f"{timeout} s either; {not_undone(record, moved=True)}",
        )
    return Undo(
        True,
        f"rolled back to {back}, the one that ran before, which is running now; "
        f"{not_undone(record, moved=True)}",
    )


def wait_for_undo(kubectl: Kubectl, timeout: int) -> bool:
    """Wait up to `timeout` s for the Deployment to be rolled out after an undo.

    The progress deadline of the failed rollout does not end this wait: right after an undo the
    controller can keep that condition until the failed revision's pods are gone
    (pkg/controller/deployment/progress.go), and an undo that is finishing well would read as
    failed."""
    rollout = kubectl.cluster.wait_for_rollout(
        timeout, progress=lambda state: print(f"undo: {state}", flush=True), stop_at_deadline=False
    )
    return rollout.done


def revision_image(kubectl: Kubectl, revision: int) -> dict[str, Any]:
    """The ReplicaSet of one revision, or an Exit listing the ones there are."""
    revisions = kubectl.cluster.replica_sets()
    found = next((rs for rs in revisions if rs.revision == revision), None)
    if found is None:
        listed = ", ".join(str(rs.revision) for rs in revisions) or "none"
        raise Exit(
            f"k8s.rollback --env {kubectl.environment.name}: {DEPLOYMENT} has no revision "
            f"{revision} (it has: {listed}); `invoke status --env {kubectl.environment.name}` "
            "lists them; nothing was changed",
            code=1,
        )
    return dataclasses.asdict(found)


__all__ = ["Revision", "Undo", "record_before_apply", "return_to_recorded", "revision_image"]
