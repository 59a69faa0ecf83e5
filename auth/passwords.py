"""Argon2id hashes of staff passwords and service-account client secrets.

Verification never raises: a mismatch, a corrupt or foreign hash, or an input that
could never have been hashed is simply ``False``.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

MAX_SECRET_CHARS = 1024
_PREFIX = "$argon2id$"
# RFC 9106's second recommended option (t=3, 64 MiB, p=4): the first needs 2 GiB a hash.
# Tests pass their own cheap hasher; these defaults are production's.
DEFAULT_HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


def hash_password(plain: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    _check(plain)
    return hasher.hash(plain)


def verify_password(stored: str, plain: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    if not _acceptable(plain) or not _is_argon2id(stored):
        return False
    try:
        return hasher.verify(stored, plain)
    except (VerificationError, InvalidHashError):
        # VerifyMismatchError is a VerificationError
        return False


def needs_rehash(stored: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> bool:
    """True when ``stored`` was made with other parameters (or is not usable at all)."""
    if not _is_argon2id(stored):
        return True
    try:
        return hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def new_client_secret() -> str:
    # 32 random bytes, URL-safe: shown to the client once, stored only as hash_password()
    return secrets.token_urlsafe(32)


def _check(plain: str) -> None:
    if not isinstance(plain, str) or not plain:
        raise ValueError("The password is empty.")
    if len(plain) > MAX_SECRET_CHARS:
        raise ValueError(
            f"The password is {len(plain)} characters long. At most {MAX_SECRET_CHARS}."
        )


def _acceptable(plain: str) -> bool:
    return isinstance(plain, str) and 0 < len(plain) <= MAX_SECRET_CHARS


def _is_argon2id(stored: str) -> bool:
    # argon2-cffi would also verify argon2i/argon2d hashes; the hub only ever writes argon2id
    return isinstance(stored, str) and stored.isascii() and stored.startswith(_PREFIX)


__all__ = [
    "DEFAULT_HASHER",
    "MAX_SECRET_CHARS",
    "hash_password",
    "needs_rehash",
    "new_client_secret",
    "verify_password",
]
