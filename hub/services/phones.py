"""Indian mobile numbers, validated with libphonenumber's metadata (number plans change;
a hand-kept regex does not), kept in E.164 (+91XXXXXXXXXX) and shown masked."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from connectors.sms import mask_mobile

_MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
_RAW_MAX = 32  # a longer "number" is not one; don't hand it to the parser


def indian_mobile(raw: str) -> str | None:
    """``98765 43210``, ``+91-9876543210``, ``09876543210`` -> ``+919876543210``;
    None for anything that is not a valid Indian mobile number (landlines included)."""
    if not raw or len(raw) > _RAW_MAX or "\x00" in raw:
        return None
    try:
        number = phonenumbers.parse(raw, "IN")
    except NumberParseException:
        return None
    if number.country_code != 91 or not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked(mobile: str) -> str:
    """+919876543210 -> +91******3210: enough to tell numbers apart, not to dial one (the
    SMS connector masks its log lines the same way)."""
    return mask_mobile(mobile)


__all__ = ["indian_mobile", "masked"]
