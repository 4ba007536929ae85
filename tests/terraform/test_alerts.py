"""The Azure Monitor alarms and the runbooks they link to (fast, no terraform needed)."""

from __future__ import annotations

import re

from ops.envconfig import REPO_ROOT
from ops.monitoring.checks import runbook_anchors
from ops.monitoring.layout import RUNBOOK_BASE

ALERTS_MAIN = REPO_ROOT / "infra" / "modules" / "alerts" / "main.tf"
RUNBOOKS = REPO_ROOT / "monitoring" / "runbooks.md"


def alarm_names() -> list[str]:
    return re.findall(r"^    (Orderdesk\w+) = \{$", ALERTS_MAIN.read_text(encoding="utf-8"), re.M)


def test_every_alarm_has_a_runbook_section() -> None:
    names = alarm_names()
    assert names == [
        "OrderdeskNodeCpuHigh",
        "OrderdeskNodeMemoryHigh",
        "OrderdeskPodsFailedOrPending",
    ]
    missing = {name for name in names if name.lower() not in runbook_anchors(RUNBOOKS)}
    assert not missing, f"monitoring/runbooks.md needs a section for {sorted(missing)}"


def test_alarms_link_the_same_runbooks_as_the_prometheus_alerts() -> None:
    locals_tf = (REPO_ROOT / "infra" / "locals.tf").read_text(encoding="utf-8")
    assert f'runbook_url = "{RUNBOOK_BASE}"' in locals_tf
