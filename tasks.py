"""Orderdesk's tasks: `invoke --list` is the table of contents.

The same commands run on a laptop and in CI. Each area is a collection whose logic lives in the
`ops` package beside this file; defaults follow invoke's precedence (defaults < invoke.yaml <
INVOKE_* environment variables < command-line flags).
"""

from invoke import Collection

from ops import app, deploy, image, k8s, monitoring, sandbox, tf

ns = Collection()
ns.add_collection(Collection.from_module(app, name="app"))
ns.add_collection(Collection.from_module(tf, name="tf"))
ns.add_collection(Collection.from_module(image))
ns.add_collection(Collection.from_module(k8s, name="k8s"))
ns.add_collection(Collection.from_module(monitoring, name="monitoring"))
ns.add_collection(sandbox.ns)
ns.add_collection(deploy.ns)
# The everyday entry points, also at the top level.
ns.add_task(app.up)
ns.add_task(deploy.status)
ns.add_task(deploy.destroy)

ns.configure(
    {
        "run": {"echo": True, "pty": False},
        # Where tasks keep per-environment state (ops/core/state.py); empty: .data/ here.
        "state_dir": "",
    }
)
