"""Argon2id password and client-secret hashes: verify never raises, bad inputs refused."""

from __future__ import annotations

import string

import pytest
from argon2 import PasswordHasher, Type

from auth.passwords import (
    DEFAULT_HASHER,
    MAX_SECRET_CHARS,
    hash_password,
    needs_rehash,
    new_client_secret,
    verify_password,
)

# the cheapest argon2id argon2-cffi allows; production's cost is checked once below
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


def test_round_trip() -> None:
    stored = hash_password("correct horse battery staple", hasher=FAST)
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert verify_password(stored, "correct horse battery staple", hasher=FAST)
    assert not verify_password(stored, "correct horse battery stapler", hasher=FAST)
    assert not verify_password(stored, "Correct horse battery staple", hasher=FAST)


def test_hashes_are_salted() -> None:
    assert hash_password("same", hasher=FAST) != hash_password("same", hasher=FAST)


def test_unicode_password() -> None:
    stored = hash_password("पासवर्ड-१२३", hasher=FAST)
    assert verify_password(stored, "पासवर्ड-१२३", hasher=FAST)
    assert not verify_password(stored, "पासवर्ड-123", hasher=FAST)


def test_production_defaults_are_rfc9106_argon2id() -> None:
    assert DEFAULT_HASHER.type is Type.ID
    assert (DEFAULT_HASHER.time_cost, DEFAULT_HASHER.memory_cost) == (3, 64 * 1024)
    assert DEFAULT_HASHER.parallelism == 4
    stored = hash_password("one real hash")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password(stored, "one real hash")
    assert not needs_rehash(stored)


def test_empty_and_over_long_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        hash_password("", hasher=FAST)
    with pytest.raises(ValueError, match=f"{MAX_SECRET_CHARS + 1} characters"):
        hash_password("x" * (MAX_SECRET_CHARS + 1), hasher=FAST)
    assert verify_password(
        hash_password("x" * MAX_SECRET_CHARS, hasher=FAST), "x" * MAX_SECRET_CHARS, hasher=FAST
    )


def test_verify_is_false_for_inputs_that_were_never_hashable() -> None:
    stored = hash_password("secret", hasher=FAST)
    assert not verify_password(stored, "", hasher=FAST)
    assert not verify_password(stored, "x" * (MAX_SECRET_CHARS + 1), hasher=FAST)
    assert not verify_password(stored, None, hasher=FAST)  # type: ignore[arg-type]


def _corrupt_hashes() -> list[str]:
    good = hash_password("secret", hasher=FAST)
    return [
        "",
        "secret",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$garbage",
        good[:-10],
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        good.replace("m=8", "m=x"),
        good + "é",
        "é" + good,
        # argon2-cffi verifies argon2i/argon2d too; the hub writes argon2id only
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.I).hash("secret"),
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.D).hash("secret"),
    ]


def test_corrupt_or_foreign_hash_is_false_not_an_error() -> None:
    for stored in _corrupt_hashes():
        assert not verify_password(stored, "secret", hasher=FAST), stored
    assert not verify_password(None, "secret", hasher=FAST)  # type: ignore[arg-type]


def test_needs_rehash() -> None:
    cheap = hash_password("secret", hasher=FAST)
    assert not needs_rehash(cheap, hasher=FAST)
    assert needs_rehash(cheap)  # production parameters differ
    unusable = [
        "",
        "secret",
        "$argon2id$",
        "$argon2id$v=19$m=8,t=1,p=1$garbage",
        cheap.replace("m=8", "m=x"),
        cheap + "é",
        PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.I).hash("secret"),
    ]
    for stored in unusable:
        assert needs_rehash(stored, hasher=FAST), stored


def test_client_secret() -> None:
    secret = new_client_secret()
    assert len(secret) == 43  # 32 bytes, base64url without padding
    assert set(secret) <= set(string.ascii_letters + string.digits + "-_")
    assert len({new_client_secret() for _ in range(100)}) == 100
    stored = hash_password(secret, hasher=FAST)
    assert verify_password(stored, secret, hasher=FAST)
    assert not verify_password(stored, new_client_secret(), hasher=FAST)
