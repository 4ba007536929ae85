"""gunicorn's access log as JSON lines, built with json.dumps so no header can break a line."""

from __future__ import annotations

import datetime
from typing import Any

from gunicorn import glogging


class JsonLogger(glogging.Logger):
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.cfg.accesslog and not self.cfg.logconfig_dict:
            return
        # The path without its query string: queries can carry what must not be logged.
        self.access_log.info(
            "request",
            extra={
                "method": environ.get("REQUEST_METHOD"),
                "path": environ.get("PATH_INFO"),
                "status": int(str(resp.status).split()[0]),
                "bytes": getattr(resp, "sent", None),
                "duration_ms": round(_seconds(request_time) * 1000, 3),
                "remote": environ.get("REMOTE_ADDR"),
                "user_agent": environ.get("HTTP_USER_AGENT", "")[:200],
            },
        )


def _seconds(delta: datetime.timedelta | float) -> float:
    return delta.total_seconds() if isinstance(delta, datetime.timedelta) else float(delta)
