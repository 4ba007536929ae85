"""The order rules, in one place: the HTML form and the JSON API both validate through OrderForm."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.utils import timezone

from .cards import CardError, CheckedCard, check_card, contains_card_number
from .models import MAX_QUANTITY, Order

# Orders older than this are typing mistakes, not history.
EARLIEST_ORDER_DATE = datetime.date(2000, 1, 1)
CARD_INPUT_MAX_LENGTH = 40

CARD_IN_WRONG_FIELD = "This looks like a card number: enter card numbers only in the card field."


class NeverRenderValue(forms.TextInput):
    """A text input that never echoes what was typed: a rejected form must not resend the PAN."""

    def format_value(self, value: Any) -> None:
        return None


class CardSafeWidget(forms.Widget):
    """Echoes what was typed, unless it holds a card number: that is never sent back."""

    def format_value(self, value: Any) -> str | None:
        text = super().format_value(value)
        return None if text and contains_card_number(str(text)) else text


class CardSafeTextInput(CardSafeWidget, forms.TextInput):
    pass


class CardSafeNumberInput(CardSafeWidget, forms.NumberInput):
    pass


class CardSafeDateInput(CardSafeWidget, forms.DateInput):
    pass


class CodeField(forms.CharField):
    """A trimmed identifier with a fixed alphabet; upper-cased when the code is case-insensitive."""

    def __init__(self, *, pattern: str, hint: str, upper: bool = False, **kwargs: Any) -> None:
        self.upper = upper
        kwargs.setdefault("widget", CardSafeTextInput)
        super().__init__(
            strip=True,
            validators=[RegexValidator(pattern, message=hint)],
            **kwargs,
        )

    def to_python(self, value: Any) -> str:
        text = super().to_python(value) or ""
        return text.upper() if self.upper else text

    def validate(self, value: Any) -> None:
        super().validate(value)
        # Over-long text is refused by the length validator alone (it runs after validate):
        # a refusal must not cost a card scan.
        if self.max_length is not None and len(value) > self.max_length:
            return
        if value and contains_card_number(value):
            raise forms.ValidationError(CARD_IN_WRONG_FIELD, code="card_in_wrong_field")


class RealDateField(forms.DateField):
    """A YYYY-MM-DD date that tells a mistyped format apart from a day the calendar lacks."""

    def to_python(self, value: Any) -> datetime.date | None:
        try:
            return super().to_python(value)
        except forms.ValidationError:
            text = str(value).strip()
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                raise forms.ValidationError(
                    f"{text} is not a real date: check the day and the month.", code="not_a_date"
                ) from None
            raise


def _date_field(label: str, *, required: bool = True) -> forms.DateField:
    return RealDateField(
        label=label,
        required=required,
        input_formats=["%Y-%m-%d"],
        widget=CardSafeDateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter a date as YYYY-MM-DD."},
    )


@dataclass(frozen=True)
class Code:
    """The shape of one kind of code, shared by the order form and the list filters."""

    pattern: str
    hint: str
    max_length: int
    upper: bool = False

    def field(self, label: str, **kwargs: Any) -> CodeField:
        return CodeField(
            label=label,
            pattern=self.pattern,
            hint=self.hint,
            upper=self.upper,
            max_length=self.max_length,
            **kwargs,
        )


USER_ID = Code(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
    hint="Use letters, digits and . _ @ - only, starting with a letter or digit.",
    max_length=64,
)
STORE_CODE = Code(
    pattern=r"^[A-Z0-9][A-Z0-9-]*$",
    hint="Use letters, digits and dashes only, starting with a letter or digit.",
    max_length=16,
    upper=True,
)
PRODUCT_CODE = Code(
    pattern=r"^[A-Z0-9][A-Z0-9._-]*$",
    hint="Use letters, digits and . _ - only, starting with a letter or digit.",
    max_length=32,
    upper=True,
)


class OrderForm(forms.Form):
    user_id = USER_ID.field("User ID")
    store_code = STORE_CODE.field("Store code", min_length=2)
    product_code = PRODUCT_CODE.field("Product code", min_length=2)
    quantity = forms.IntegerField(
        min_value=1,
        max_value=MAX_QUANTITY,
        widget=CardSafeNumberInput,
        error_messages={"invalid": "Enter a whole number."},
    )
    order_date = _date_field("Order date")
    shipping_date = _date_field("Shipping date")
    delivery_date = _date_field("Delivery date (optional)", required=False)
    card_number = forms.CharField(
        label="Card number",
        max_length=CARD_INPUT_MAX_LENGTH,
        strip=True,
        widget=NeverRenderValue(attrs={"autocomplete": "cc-number", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Render-time limits so the date picker offers only days the rules accept.
        self.fields["order_date"].widget.attrs.update(
            min=EARLIEST_ORDER_DATE.isoformat(), max=timezone.localdate().isoformat()
        )

    def clean_order_date(self) -> datetime.date:
        value: datetime.date = self.cleaned_data["order_date"]
        if value > timezone.localdate():
            raise forms.ValidationError("The order date cannot be in the future.", code="future")
        if value < EARLIEST_ORDER_DATE:
            raise forms.ValidationError(
                f"The order date cannot be before {EARLIEST_ORDER_DATE:%d %B %Y}.", code="too_old"
            )
        return value

    def clean_card_number(self) -> CheckedCard:
        try:
            return check_card(self.cleaned_data["card_number"], settings.CARD_FINGERPRINT_KEY)
        except CardError as exc:
            raise forms.ValidationError(str(exc), code="card") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        order_date, shipping_date = data.get("order_date"), data.get("shipping_date")
        delivery_date = data.get("delivery_date")
        if order_date and shipping_date and shipping_date < order_date:
            self.add_error("shipping_date", "The shipping date cannot be before the order date.")
        if shipping_date and delivery_date and delivery_date < shipping_date:
            self.add_error("delivery_date", "The delivery date cannot be before the shipping date.")
        return data

    def save(self, *, created_by: Any = None, created_by_name: str = "") -> Order:
        data = self.cleaned_data
        card: CheckedCard = data["card_number"]
        return Order.objects.create(
            created_by=created_by,
            created_by_name=created_by_name,
            user_id=data["user_id"],
            store_code=data["store_code"],
            product_code=data["product_code"],
            quantity=data["quantity"],
            order_date=data["order_date"],
            shipping_date=data["shipping_date"],
            delivery_date=data.get("delivery_date"),
            card_brand=card.brand,
            card_last4=card.last4,
            card_fingerprint=card.fingerprint,
        )


class OrderFilterForm(forms.Form):
    """Filters of the order list: a prefix of either code, in any case.

    Invalid filters are reported, never silently widened.
    """

    user_id = USER_ID.field("User ID starts with", required=False)
    store_code = STORE_CODE.field("Store code starts with", required=False)
