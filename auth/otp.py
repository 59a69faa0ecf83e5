"""One-time sign-in codes: six random digits, stored only as a keyed hash.

The hash binds the code to its challenge, so a hash read from one challenge's row
is useless against another, and a leaked table does not yield codes without the
hub's secret key (a bare SHA-256 of six digits is a million guesses away).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

CODE_DIGITS = 6
_ASCII_DIGITS = frozenset("0123456789")
# keeps these HMACs apart from others made with the same secret key (download links)
_LABEL = "hub-otp"


def new_code() -> str:
    # randbelow is uniform over 0..999999; zero-padding keeps codes like 004217
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret_key: str, challenge_id: str, code: str) -> str:
    """The hex HMAC-SHA256 of ``code`` for this challenge; raises ValueError on a bad code."""
    normal = _normalise(code)
    if normal is None:
        raise ValueError(f"A one-time code must be {CODE_DIGITS} digits 0-9.")
    return _digest(secret_key, challenge_id, normal)


def code_matches(secret_key: str, challenge_id: str, code: str, stored_hash: str) -> bool:
    """Whether ``code`` is the one hashed for this challenge; False for anything malformed."""
    normal = _normalise(code)
    if normal is None:
        return False
    # bytes, not str: compare_digest refuses non-ASCII str with TypeError
    expected = _digest(secret_key, challenge_id, normal).encode()
    return hmac.compare_digest(expected, stored_hash.encode())


def _normalise(code: str) -> str | None:
    # a pasted code may carry spaces or a newline; a full-width or Devanagari digit is
    # refused rather than mapped, so only one spelling of each code exists
    stripped = code.strip() if isinstance(code, str) else ""
    if len(stripped) != CODE_DIGITS or not set(stripped) <= _ASCII_DIGITS:
        return None
    return stripped


def _digest(secret_key: str, challenge_id: str, code: str) -> str:
    if not secret_key:
        raise ValueError("The secret key of one-time codes is empty.")
    # the code has a fixed length at the end, so the joined message cannot be ambiguous
    message = f"{_LABEL}:{challenge_id}:{code}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


__all__ = ["CODE_DIGITS", "code_hash", "code_matches", "new_code"]
