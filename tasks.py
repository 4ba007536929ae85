"""Orderdesk's tasks: `invoke --list` is the table of contents.

The same commands run on a laptop and in CI. Each area is a collection whose logic lives in the
`ops` package beside this file: a task resolves its environment once (ops/core/target.py) and
calls a function of that Target. Settings follow invoke's precedence (defaults < invoke.yaml <
INVOKE_* environment variables < command-line flags); their defaults live in ops/core/settings.py.
"""

from invoke import Collection

from ops import app, azure, deploy, image, k8s, monitoring, sandbox, tf
from ops.core.settings import config_defaults

# The everyday entry points, at the top level: up, deploy, status, destroy.
ns = Collection(app.up, *deploy.tasks)
ns.add_collection(app.ns)
ns.add_collection(tf.ns)
ns.add_collection(Collection.from_module(image))
ns.add_collection(k8s.ns)
ns.add_collection(monitoring.ns)
ns.add_collection(azure.ns)
ns.add_collection(sandbox.ns)
ns.configure(config_defaults())
