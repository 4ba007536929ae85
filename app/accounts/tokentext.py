"""What an API token looks like, free of Django: the log filter (orderdesk/logs.py) reads it
before Django is set up, to redact a token wherever one was written."""

from __future__ import annotations

import re

# "odk_" + 8 characters to find it by + 43 of secret (32 random bytes, base64url).
TOKEN_PREFIX = "odk_"  # noqa: S105  # nosec B105 - a label, not a secret
TOKEN_LOOKUP_LENGTH = 8
TOKEN_MAX_LENGTH = 80
_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_\-]+")


def redact_tokens(text: str) -> str:
    """The text with every token's secret part replaced; its lookup prefix names which one."""
    return _TOKEN.sub(
        lambda m: m.group(0)[: len(TOKEN_PREFIX) + TOKEN_LOOKUP_LENGTH] + "[REDACTED-TOKEN]", text
    )
