"""Payment card checks and PCI DSS-minded storage helpers.

The full number (PAN) only ever lives in memory while a request is validated: what is stored is the
brand, the last four digits and a keyed fingerprint (HMAC-SHA256 with a server-side key), which
lets support spot repeated cards without being able to recover the number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

MIN_DIGITS, MAX_DIGITS = 12, 19
_ALLOWED = re.compile(r"^[0-9 -]+$")


class CardError(ValueError):
    """The number is not a usable card number. Messages never quote the number."""


@dataclass(frozen=True)
class Brand:
    name: str
    prefixes: tuple[tuple[int, int], ...]  # inclusive ranges of leading digits
    lengths: tuple[int, ...]

    def matches(self, digits: str) -> bool:
        if len(digits) not in self.lengths:
            return False
        for low, high in self.prefixes:
            width = len(str(low))
            if low <= int(digits[:width]) <= high:
                return True
        return False


# Ordered: the first brand whose prefix and length match wins (Maestro's broad 5/6 ranges last).
BRANDS: tuple[Brand, ...] = (
    Brand("Visa", ((4, 4),), (13, 16, 19)),
    Brand("Mastercard", ((51, 55), (2221, 2720)), (16,)),
    Brand("American Express", ((34, 34), (37, 37)), (15,)),
    Brand("Diners Club", ((300, 305), (36, 36), (38, 39)), (14, 15, 16, 17, 18, 19)),
    Brand("Discover", ((6011, 6011), (644, 649), (65, 65)), (16, 17, 18, 19)),
    Brand("JCB", ((3528, 3589),), (16, 17, 18, 19)),
    Brand("UnionPay", ((62, 62),), (16, 17, 18, 19)),
    Brand("Maestro", ((50, 50), (56, 69)), tuple(range(12, 20))),
)


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def normalise(raw: str) -> str:
    """Digits only, after checking that only digits, spaces and dashes were typed."""
    text = raw.strip()
    if not text:
        raise CardError("Enter a card number.")
    if not _ALLOWED.match(text):
        raise CardError("Use only digits, spaces and dashes in the card number.")
    digits = text.replace(" ", "").replace("-", "")
    if not MIN_DIGITS <= len(digits) <= MAX_DIGITS:
        raise CardError(f"A card number has {MIN_DIGITS} to {MAX_DIGITS} digits.")
    return digits


def detect_brand(digits: str) -> str | None:
    for brand in BRANDS:
        if brand.matches(digits):
            return brand.name
    return None


@dataclass(frozen=True)
class CheckedCard:
    """What may be kept of a card: never the number itself."""

    brand: str
    last4: str
    fingerprint: str

    def masked(self) -> str:
        return f"{self.brand} •••• {self.last4}"


def fingerprint(digits: str, key: str) -> str:
    # URL-safe base64 rather than hex: hex digests often hold long all-digit runs that look
    # like card numbers to scanners and redaction filters.
    digest = hmac.new(key.encode(), digits.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_card(raw: str, key: str) -> CheckedCard:
    digits = normalise(raw)
    if not luhn_valid(digits):
        raise CardError("This card number is not valid: check for a typing mistake.")
    brand = detect_brand(digits)
    if brand is None:
        raise CardError("This card brand is not accepted.")
    return CheckedCard(brand=brand, last4=digits[-4:], fingerprint=fingerprint(digits, key))


# Runs of 12 or more digits, optionally separated by single spaces or dashes.
_DIGIT_RUN = re.compile(r"\d(?:[ -]?\d){11,}")


def _holds_card(match: re.Match[str]) -> bool:
    """A card number may hide inside a longer run: check every 12-19 digit window of it."""
    digits = re.sub(r"\D", "", match.group())
    return any(
        luhn_valid(digits[start:end])
        for start in range(len(digits) - MIN_DIGITS + 1)
        for end in range(start + MIN_DIGITS, min(len(digits), start + MAX_DIGITS) + 1)
    )


# Far longer than any field the scan guards: text beyond it is refused for its length first,
# and never echoed back, without a scan whose work grows with every digit.
SCAN_LIMIT = 256


def contains_card_number(text: str) -> bool:
    """True when free text holds a Luhn-valid 12-19 digit run: a card typed in the wrong field.

    Text longer than SCAN_LIMIT counts as holding one, unscanned: the callers refuse it anyway.
    """
    if len(text) > SCAN_LIMIT:
        return True
    return any(_holds_card(match) for match in _DIGIT_RUN.finditer(text))


def redact_card_numbers(text: str) -> str:
    return _DIGIT_RUN.sub(
        lambda match: "[REDACTED-PAN]" if _holds_card(match) else match.group(), text
    )
