"""The Teams payload validators used by the loopback test reject what Teams would not render."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.monitoring.teams import adaptive_card, message_card

# The shape Alertmanager 0.31's msteamsv2 notifier posts.
WORKFLOWS_MESSAGE: dict[str, Any] = {
    "type": "message",
    "attachments": [
        {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.2",
                "body": [
                    {
                        "type": "TextBlock",
                        "text": "FIRING: OrderdeskHighErrorRatio in orderdesk (1)",
                        "weight": "Bolder",
                        "size": "Medium",
                        "wrap": True,
                        "style": "heading",
                        "color": "Attention",
                    },
                    {"type": "TextBlock", "text": "**summary**", "wrap": True},
                ],
                "msteams": {"width": "full"},
            },
        }
    ],
}


def broken(change: Any) -> dict[str, Any]:
    message = copy.deepcopy(WORKFLOWS_MESSAGE)
    change(message)
    return message


def card(message: dict[str, Any]) -> dict[str, Any]:
    content: dict[str, Any] = message["attachments"][0]["content"]
    return content


def test_alertmanagers_card_is_accepted() -> None:
    assert adaptive_card(WORKFLOWS_MESSAGE)["type"] == "AdaptiveCard"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda m: m.update(type="invoke"), "type must be 'message'"),
        (lambda m: m["attachments"][0].update(contentType="text/html"), "contentType"),
        (lambda m: card(m)["body"][0].update(color="Purple"), "violates the Adaptive Card schema"),
        (lambda m: card(m)["body"][1].pop("text"), "violates the Adaptive Card schema"),
        (
            lambda m: card(m)["body"].append({"type": "Marquee"}),
            "violates the Adaptive Card schema",
        ),
        (lambda m: card(m).update(version="2.0"), "not an Adaptive Card version"),
        (lambda m: card(m).update(version="1.6"), "newer than Teams renders"),
        (lambda m: card(m)["body"][1].update(text="x" * 40_000), "Teams takes"),
    ],
)
def test_invalid_workflow_messages_are_rejected(change: Any, reason: str) -> None:
    with pytest.raises(AssertionError, match=reason):
        adaptive_card(broken(change))


def test_message_cards_need_their_fields() -> None:
    legacy = {
        "@context": "http://schema.org/extensions",
        "type": "MessageCard",
        "title": "FIRING: x",
        "summary": "[FIRING:1] x",
        "text": "**x**",
        "themeColor": "8C1A1A",
    }
    assert message_card(legacy) == legacy
    with pytest.raises(AssertionError):
        message_card({**legacy, "text": ""})
    with pytest.raises(AssertionError):
        message_card({key: value for key, value in legacy.items() if key != "@context"})
