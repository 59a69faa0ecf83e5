"""One-time codes: six uniform digits, hashed per challenge, compared in constant time."""

from __future__ import annotations

import hmac
import random
import secrets
from collections import Counter
from typing import Any

import pytest

from auth import otp

KEY = "k" * 48
CHALLENGE = "3f1c9a52-0b7e-4d7c-9d43-5d0b2a1f7e11"


def test_codes_are_six_ascii_digits() -> None:
    for _ in range(1000):
        code = otp.new_code()
        assert len(code) == otp.CODE_DIGITS == 6
        assert code.isascii() and code.isdigit()


def test_leading_zeros_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "randbelow", lambda _limit: 42)
    assert otp.new_code() == "000042"


def test_every_digit_appears_in_every_position() -> None:
    draws = 5000
    by_position = [Counter[str]() for _ in range(otp.CODE_DIGITS)]
    for _ in range(draws):
        for position, digit in enumerate(otp.new_code()):
            by_position[position][digit] += 1
    for counts in by_position:
        assert set(counts) == set("0123456789")
        # 500 expected, standard deviation ~21: these bounds are > 10 sigma away
        assert all(250 < count < 750 for count in counts.values()), counts


def test_codes_do_not_follow_the_random_module_seed() -> None:
    random.seed(1234)
    first = [otp.new_code() for _ in range(20)]
    random.seed(1234)
    second = [otp.new_code() for _ in range(20)]
    assert first != second


def test_hash_is_hex_and_holds_no_code() -> None:
    digest = otp.code_hash(KEY, CHALLENGE, "012345")
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert "012345" not in digest
    assert otp.code_hash(KEY, CHALLENGE, "012345") == digest


def test_code_matches_its_own_challenge_only() -> None:
    stored = otp.code_hash(KEY, CHALLENGE, "482913")
    assert otp.code_matches(KEY, CHALLENGE, "482913", stored)
    assert not otp.code_matches(KEY, "another-challenge", "482913", stored)
    assert not otp.code_matches(KEY, CHALLENGE, "482914", stored)
    assert not otp.code_matches("j" * 48, CHALLENGE, "482913", stored)


def test_hash_depends_on_challenge_code_and_key() -> None:
    base = otp.code_hash(KEY, "c1", "111111")
    assert otp.code_hash(KEY, "c2", "111111") != base
    assert otp.code_hash(KEY, "c1", "111112") != base
    assert otp.code_hash("j" * 48, "c1", "111111") != base
    # no ambiguity where the challenge id and the code meet
    assert otp.code_hash(KEY, "c1:1", "111111") != otp.code_hash(KEY, "c1", "111111")


def test_surrounding_whitespace_is_ignored() -> None:
    stored = otp.code_hash(KEY, CHALLENGE, "007007")
    assert otp.code_matches(KEY, CHALLENGE, " 007007\n", stored)
    assert otp.code_hash(KEY, CHALLENGE, "\t007007 ") == stored


MALFORMED = [
    "",
    "      ",
    "12345",
    "1234567",
    "12 456",
    "12-456",
    "abcdef",
    "+12345",
    "-12345",
    "1e5000",
    "１２３４５６",  # full-width digits  # noqa: RUF001
    "१२३४५६",  # Devanagari digits
    "٠١٢٣٤٥",  # Arabic-Indic digits
    "¹²³⁴⁵⁶",  # superscripts: str.isdigit() says yes
    "123456\x00",
]


@pytest.mark.parametrize("code", MALFORMED)
def test_malformed_code_never_matches(code: str) -> None:
    stored = otp.code_hash(KEY, CHALLENGE, "123456")
    assert not otp.code_matches(KEY, CHALLENGE, code, stored)
    with pytest.raises(ValueError, match="6 digits"):
        otp.code_hash(KEY, CHALLENGE, code)


def test_code_that_is_not_a_string_never_matches() -> None:
    stored = otp.code_hash(KEY, CHALLENGE, "123456")
    for code in (123456, None, b"123456"):
        assert not otp.code_matches(KEY, CHALLENGE, code, stored)  # type: ignore[arg-type]


def test_corrupt_stored_hash_is_no_match() -> None:
    for stored in ("", "zz", "é" * 64, otp.code_hash(KEY, CHALLENGE, "123456")[:-1]):
        assert not otp.code_matches(KEY, CHALLENGE, "123456", stored)


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    stored = otp.code_hash(KEY, CHALLENGE, "555555")
    assert otp.code_matches(KEY, CHALLENGE, "555555", stored)
    assert not otp.code_matches(KEY, CHALLENGE, "555556", stored)
    assert len(calls) == 2


def test_empty_secret_key_refused() -> None:
    with pytest.raises(ValueError, match="secret key"):
        otp.code_hash("", CHALLENGE, "123456")
