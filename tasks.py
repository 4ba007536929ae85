"""Orderdesk's tasks: `invoke --list` is the table of contents.

The same commands run on a laptop and in CI. Each area is a collection whose logic lives in the
`ops` package beside this file; defaults follow invoke's precedence (defaults < invoke.yaml <
INVOKE_* environment variables < command-line flags).
"""

from invoke import Collection

from ops import app, azure, deploy, image, k8s, monitoring, sandbox, tf
from ops.image import common as image_settings

# The everyday entry points, at the top level: up, deploy, status, destroy.
ns = Collection(app.up, *deploy.tasks)
ns.add_collection(app.ns)
ns.add_collection(tf.ns)
ns.add_collection(Collection.from_module(image))
ns.add_collection(k8s.ns)
ns.add_collection(monitoring.ns)
ns.add_collection(azure.ns)
ns.add_collection(sandbox.ns)

ns.configure(
    {
        "run": {"echo": True, "pty": False},
        # Where tasks keep per-environment state (ops/core/state.py); empty: .data/ here.
        "state_dir": "",
        "deploy": deploy.checks.DEFAULTS,
        # A top-level task (deploy, status, destroy) sees only the root's configuration, not its
        # subcollections': without these sections there, invoke.yaml and INVOKE_K8S_* /
        # INVOKE_IMAGE_* would be ignored by the very tasks that compose the k8s and image ones.
        "k8s": k8s.DEFAULTS,
        "image": image_settings.DEFAULTS,
    }
)
