"""The plumbing every ops area shares, written once.

    ops.core.ci            in_ci() and the one "skip on a laptop, fail in CI" rule (stdlib only:
                           noxfile.py loads it by path, outside the project's venv)
    ops.core.environments  load an environment from infra/env.yaml for a task: one exit code and
                           one message for an unknown or invalid one
    ops.core.state         the .data/<env>/ files (image.json, tf-outputs.json, kubeconfig,
                           secrets/...) and atomic JSON writes
    ops.core.git           the commit a deploy or an image is made from, without a traceback
    ops.core.wait          wait_until: bounded polling on tenacity
    ops.core.web           HTTP through requests, and waiting for a status
    ops.core.mounts        what a stopped daemon left mounted under its own directories, found in
                           /proc/self/mountinfo and unmounted deepest first
    ops.core.kube          kubectl and helm command lines bound to an environment's kubeconfig,
                           context and namespace
    ops.core.run           the one Runner for external programs (argument lists, a timeout
                           always, dry run, echo, secrets masked) and RecordingRunner for tests
    ops.core.processes     long-running programs: start with a log and pid file, wait until
                           ready, stop (SIGTERM, grace, SIGKILL) only what a start started

Nothing is re-exported here: import the module that owns a thing, so there is one name for it.
"""
