"""Tokens: the happy paths for each algorithm, and forged or damaged tokens refused.

Forged tokens are built by hand (base64 + hmac / cryptography), not with jose, so
the tests do not share the code under test's idea of what a token is.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from auth.tokens import (
    MAX_TOKEN_BYTES,
    REQUIRED_CLAIMS,
    Signer,
    TokenError,
    TokenType,
)
from hub.settings import Settings, SettingsError

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
LIFETIME = timedelta(minutes=15)
ISSUER = "grievance-hub"
AUDIENCE = "grievance-hub"
SECRET = "s" * 48
Sign = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Setup:
    """A signer plus the raw means to forge tokens with its own (right) key."""

    algorithm: str
    signer: Signer
    sign: Sign
    public_pem: bytes = b""
    public_der: bytes = b""


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(header: dict[str, Any], claims: Any, sign: Sign | None) -> str:
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = sign(signing_input.encode()) if sign else b""
    return f"{signing_input}.{b64(signature)}"


def hs256(key: bytes) -> Sign:
    return lambda message: hmac.new(key, message, hashlib.sha256).digest()


def rs256(key: rsa.RSAPrivateKey) -> Sign:
    return lambda message: key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def es256(key: ec.EllipticCurvePrivateKey) -> Sign:
    def sign(message: bytes) -> bytes:
        # JWS wants r || s (32 bytes each), not cryptography's DER
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


def claims_for(token_type: TokenType = "access", **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user:42",
        "jti": "token-1",
        "token_use": token_type,
        "iat": int(NOW.timestamp()),
        "exp": int((NOW + LIFETIME).timestamp()),
    }
    claims.update(changes)
    return claims


def pem_pair(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> tuple[bytes, bytes]:
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, public_pem


def public_der(private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def setups(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> dict[str, Setup]:
    rsa_private, rsa_public = pem_pair(rsa_key)
    ec_private, ec_public = pem_pair(ec_key)
    return {
        "HS256": Setup(
            "HS256",
            Signer("HS256", issuer=ISSUER, audience=AUDIENCE, secret=SECRET),
            hs256(SECRET.encode()),
        ),
        "RS256": Setup(
            "RS256",
            Signer(
                "RS256",
                issuer=ISSUER,
                audience=AUDIENCE,
                private_key_pem=rsa_private,
                public_key_pem=rsa_public,
            ),
            rs256(rsa_key),
            rsa_public,
            public_der(rsa_key),
        ),
        "ES256": Setup(
            "ES256",
            Signer(
                "ES256",
                issuer=ISSUER,
                audience=AUDIENCE,
                private_key_pem=ec_private,
                public_key_pem=ec_public,
            ),
            es256(ec_key),
            ec_public,
            public_der(ec_key),
        ),
    }


ALGORITHMS = ("HS256", "RS256", "ES256")
ASYMMETRIC = ("RS256", "ES256")


def refused(
    signer: Signer, token: str, token_type: TokenType = "access", now: datetime = NOW
) -> TokenError:
    with pytest.raises(TokenError) as caught:
        signer.verify(token, token_type, now=now)
    # the message goes to clients: it never echoes the token or a part of it
    message = str(caught.value)
    for part in token.split("."):
        assert len(part) < 8 or part not in message
    return caught.value


# happy paths


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("token_type", ["access", "refresh"])
def test_issued_token_verifies(
    setups: dict[str, Setup], algorithm: str, token_type: TokenType
) -> None:
    signer = setups[algorithm].signer
    token = signer.issue(
        "user:42", token_type, "jti-1", LIFETIME, now=NOW, claims={"sid": "s-9", "roles": ["GRO"]}
    )
    claims = signer.verify(token, token_type, now=NOW + timedelta(minutes=5))
    assert claims.subject == "user:42"
    assert claims.token_id == "jti-1"
    assert claims.token_type == token_type
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + LIFETIME
    assert dict(claims.extra) == {"sid": "s-9", "roles": ["GRO"]}
    with pytest.raises(TypeError):
        claims.extra["sid"] = "other"  # type: ignore[index]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_issued_token_carries_every_required_claim(
    setups: dict[str, Setup], algorithm: str
) -> None:
    token = setups[algorithm].signer.issue("user:42", "access", "jti-1", LIFETIME, now=NOW)
    header_part, payload_part, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_part + "=="))
    payload = json.loads(base64.urlsafe_b64decode(payload_part + "=="))
    assert header["alg"] == algorithm
    assert set(REQUIRED_CLAIMS) <= set(payload)
    assert payload["iss"] == ISSUER and payload["aud"] == AUDIENCE
    assert payload["token_use"] == "access"
    assert payload["exp"] - payload["iat"] == LIFETIME.total_seconds()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_hand_built_token_with_the_right_key_verifies(
    setups: dict[str, Setup], algorithm: str
) -> None:
    # the forging helpers are sound, so the refusals below are about what they change
    setup = setups[algorithm]
    token = compact({"alg": algorithm, "typ": "JWT"}, claims_for(), setup.sign)
    assert setup.signer.verify(token, "access", now=NOW).subject == "user:42"


def test_audience_may_be_a_list_holding_ours(setups: dict[str, Setup]) -> None:
    setup = setups["HS256"]
    token = compact({"alg": "HS256"}, claims_for(aud=["reports", AUDIENCE]), setup.sign)
    assert setup.signer.verify(token, "access", now=NOW).subject == "user:42"


def test_verify_without_now_uses_the_clock(setups: dict[str, Setup]) -> None:
    signer = setups["HS256"].signer
    assert signer.verify(signer.issue("u", "access", "j", LIFETIME), "access").subject == "u"


# algorithm confusion


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("alg", ["none", "None", "NONE", ""])
def test_unsigned_token_refused(setups: dict[str, Setup], algorithm: str, alg: str) -> None:
    token = compact({"alg": alg, "typ": "JWT"}, claims_for(), None)
    assert refused(setups[algorithm].signer, token).reason == "algorithm"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_header_without_alg_refused(setups: dict[str, Setup], algorithm: str) -> None:
    setup = setups[algorithm]
    token = compact({"typ": "JWT"}, claims_for(), setup.sign)
    assert refused(setup.signer, token).reason == "algorithm"


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
@pytest.mark.parametrize("encoding", ["pem", "der"])
def test_hs256_signed_with_the_public_key_refused(
    setups: dict[str, Setup], algorithm: str, encoding: str
) -> None:
    # the classic confusion: the verifier's public key used as an HMAC secret
    setup = setups[algorithm]
    key = setup.public_pem if encoding == "pem" else setup.public_der
    token = compact({"alg": "HS256", "typ": "JWT"}, claims_for(), hs256(key))
    assert refused(setup.signer, token).reason == "algorithm"


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_token_of_the_other_asymmetric_algorithm_refused(
    setups: dict[str, Setup], algorithm: str
) -> None:
    other = setups["ES256" if algorithm == "RS256" else "RS256"]
    token = compact({"alg": other.algorithm}, claims_for(), other.sign)
    assert refused(setups[algorithm].signer, token).reason == "algorithm"


def test_asymmetric_token_refused_by_hs256(setups: dict[str, Setup]) -> None:
    token = setups["RS256"].signer.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert refused(setups["HS256"].signer, token).reason == "algorithm"


# signatures


def test_token_signed_with_another_secret_refused(setups: dict[str, Setup]) -> None:
    other = Signer("HS256", issuer=ISSUER, audience=AUDIENCE, secret="t" * 48)
    token = other.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert refused(setups["HS256"].signer, token).reason == "signature"


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_token_signed_with_another_key_pair_refused(
    setups: dict[str, Setup], algorithm: str
) -> None:
    stranger: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        stranger = ec.generate_private_key(ec.SECP256R1())
    private_pem, public_pem = pem_pair(stranger)
    other = Signer(
        algorithm,  # type: ignore[arg-type]
        issuer=ISSUER,
        audience=AUDIENCE,
        private_key_pem=private_pem,
        public_key_pem=public_pem,
    )
    token = other.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert refused(setups[algorithm].signer, token).reason == "signature"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_payload_refused(setups: dict[str, Setup], algorithm: str) -> None:
    signer = setups[algorithm].signer
    header, _, signature = signer.issue("user:42", "access", "j", LIFETIME, now=NOW).split(".")
    forged_payload = b64(json.dumps(claims_for(sub="user:1")).encode())
    token = f"{header}.{forged_payload}.{signature}"
    assert refused(signer, token).reason == "signature"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_header_refused(setups: dict[str, Setup], algorithm: str) -> None:
    signer = setups[algorithm].signer
    _, payload, signature = signer.issue("user:42", "access", "j", LIFETIME, now=NOW).split(".")
    header = b64(json.dumps({"alg": algorithm, "typ": "JWT", "kid": "x"}).encode())
    assert refused(signer, f"{header}.{payload}.{signature}").reason == "signature"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_truncated_signature_refused(setups: dict[str, Setup], algorithm: str) -> None:
    signer = setups[algorithm].signer
    token = signer.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert refused(signer, token[:-4]).reason == "signature"
    assert refused(signer, token.rsplit(".", 1)[0] + ".").reason == "signature"


# claims


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_expired_token_refused(setups: dict[str, Setup], algorithm: str) -> None:
    signer = setups[algorithm].signer
    token = signer.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert signer.verify(token, "access", now=NOW + LIFETIME - timedelta(seconds=1))
    assert refused(signer, token, now=NOW + LIFETIME).reason == "expired"
    assert refused(signer, token, now=NOW + timedelta(days=3)).reason == "expired"


def test_token_from_the_future_refused(setups: dict[str, Setup]) -> None:
    signer = setups["HS256"].signer
    slightly_ahead = signer.issue("u", "access", "j", LIFETIME, now=NOW + timedelta(seconds=20))
    assert signer.verify(slightly_ahead, "access", now=NOW).subject == "u"
    far_ahead = signer.issue("u", "access", "j", LIFETIME, now=NOW + timedelta(minutes=2))
    assert refused(signer, far_ahead).reason == "claims"


def test_not_before_in_the_future_refused(setups: dict[str, Setup]) -> None:
    setup = setups["HS256"]
    nbf = int((NOW + timedelta(minutes=5)).timestamp())
    token = compact({"alg": "HS256"}, claims_for(nbf=nbf), setup.sign)
    assert refused(setup.signer, token).reason == "claims"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("audience", ["reports-subgraph", ["reports-subgraph"], 7, None, []])
def test_wrong_audience_refused(setups: dict[str, Setup], algorithm: str, audience: Any) -> None:
    setup = setups[algorithm]
    token = compact({"alg": algorithm}, claims_for(aud=audience), setup.sign)
    assert refused(setup.signer, token).reason == "audience"


def test_token_for_another_audience_refused(setups: dict[str, Setup]) -> None:
    other = Signer("HS256", issuer=ISSUER, audience="reports", secret=SECRET)
    token = other.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert refused(setups["HS256"].signer, token).reason == "audience"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("issuer", ["evil-hub", "", None, [ISSUER]])
def test_wrong_issuer_refused(setups: dict[str, Setup], algorithm: str, issuer: Any) -> None:
    setup = setups[algorithm]
    token = compact({"alg": algorithm}, claims_for(iss=issuer), setup.sign)
    assert refused(setup.signer, token).reason == "issuer"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("missing", REQUIRED_CLAIMS)
def test_each_required_claim_missing_refused(
    setups: dict[str, Setup], algorithm: str, missing: str
) -> None:
    setup = setups[algorithm]
    claims = claims_for()
    del claims[missing]
    error = refused(setup.signer, compact({"alg": algorithm}, claims, setup.sign))
    assert error.reason == "claims"
    assert f"'{missing}'" in str(error)


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": ""},
        {"sub": 42},
        {"jti": ""},
        {"jti": None},
        {"token_use": ""},
        {"token_use": ["access"]},
        {"iat": "1772357400"},
        {"iat": 1772357400.5},
        {"iat": True},
        {"exp": None},
        {"exp": 10**20},
        {"exp": int(NOW.timestamp())},  # not after iat
    ],
)
def test_claims_of_the_wrong_shape_refused(
    setups: dict[str, Setup], changes: dict[str, Any]
) -> None:
    setup = setups["HS256"]
    token = compact({"alg": "HS256"}, claims_for(**changes), setup.sign)
    assert refused(setup.signer, token).reason == "claims"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_refresh_token_is_not_an_access_token(setups: dict[str, Setup], algorithm: str) -> None:
    signer = setups[algorithm].signer
    refresh = signer.issue("user:42", "refresh", "j", LIFETIME, now=NOW)
    access = signer.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert refused(signer, refresh, "access").reason == "type"
    assert refused(signer, access, "refresh").reason == "type"


def test_unknown_token_type_refused(setups: dict[str, Setup]) -> None:
    setup = setups["HS256"]
    token = compact({"alg": "HS256"}, claims_for(token_use="id"), setup.sign)
    assert refused(setup.signer, token).reason == "type"


def test_typ_header_is_not_the_token_type(setups: dict[str, Setup]) -> None:
    # the JOSE header "typ" says nothing about access or refresh
    setup = setups["HS256"]
    claims = claims_for("refresh")
    token = compact({"alg": "HS256", "typ": "access"}, claims, setup.sign)
    assert refused(setup.signer, token).reason == "type"


# malformed input


@pytest.mark.parametrize(
    "token",
    [
        "",
        " ",
        "garbage",
        "a.b",
        "a.b.c.d",
        "..",
        "a..c",
        "é.é.é",
        "eyJhbGciOiJIUzI1NiJ9.e30=.c2ln",  # padding is not part of compact JWS
        "eyJhbGciOiJIUzI1NiJ9 .e30.c2ln",
        "x" * (MAX_TOKEN_BYTES + 1),
        "a." * 5000 + "b",
    ],
)
def test_garbage_refused(setups: dict[str, Setup], token: str) -> None:
    for setup in setups.values():
        assert refused(setup.signer, token).reason == "malformed"


def test_huge_well_formed_token_refused_before_parsing(setups: dict[str, Setup]) -> None:
    setup = setups["HS256"]
    token = compact({"alg": "HS256"}, claims_for(pad="x" * MAX_TOKEN_BYTES), setup.sign)
    assert refused(setup.signer, token).reason == "malformed"


def test_header_that_is_not_json_object_refused(setups: dict[str, Setup]) -> None:
    for header in (b"[]", b"not json", b"\xff\xfe", b"[" * 5000):
        token = f"{b64(header)}.{b64(b'{}')}.c2ln"
        assert len(token) <= MAX_TOKEN_BYTES
        assert refused(setups["HS256"].signer, token).reason == "malformed"


def test_signed_payload_that_is_not_an_object_refused(setups: dict[str, Setup]) -> None:
    setup = setups["HS256"]
    for claims in ([claims_for()], "claims", 7):
        token = compact({"alg": "HS256"}, claims, setup.sign)
        assert refused(setup.signer, token).reason == "malformed"


def test_critical_header_extension_refused(setups: dict[str, Setup]) -> None:
    setup = setups["HS256"]
    token = compact({"alg": "HS256", "crit": ["exp"], "exp": 1}, claims_for(), setup.sign)
    assert refused(setup.signer, token).reason == "malformed"


# construction and issuing


def test_hs256_secret_of_31_bytes_refused() -> None:
    with pytest.raises(SettingsError, match=r"HUB_SECRET_KEY.*31 bytes"):
        Signer("HS256", issuer=ISSUER, audience=AUDIENCE, secret="k" * 31)
    with pytest.raises(SettingsError, match="HUB_SECRET_KEY"):
        Signer("HS256", issuer=ISSUER, audience=AUDIENCE)
    Signer("HS256", issuer=ISSUER, audience=AUDIENCE, secret="k" * 32)


def test_unknown_algorithm_refused() -> None:
    with pytest.raises(SettingsError, match="HUB_TOKEN_ALGORITHM"):
        Signer("HS512", issuer=ISSUER, audience=AUDIENCE, secret=SECRET)  # type: ignore[arg-type]


def write_keys(tmp_path: Path, private_pem: bytes, public_pem: bytes) -> Settings:
    (tmp_path / "private.pem").write_bytes(private_pem)
    (tmp_path / "public.pem").write_bytes(public_pem)
    return Settings(
        token_private_key_file=str(tmp_path / "private.pem"),
        token_public_key_file=str(tmp_path / "public.pem"),
    )


def test_from_settings_hs256() -> None:
    signer = Signer.from_settings(Settings(secret_key=SECRET, token_issuer="hub-ka"))
    token = signer.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert signer.verify(token, "access", now=NOW).subject == "user:42"
    assert signer.issuer == "hub-ka"


@pytest.mark.parametrize("algorithm", ASYMMETRIC)
def test_from_settings_reads_the_key_files(
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
    algorithm: Any,
) -> None:
    key = rsa_key if algorithm == "RS256" else ec_key
    settings = write_keys(tmp_path, *pem_pair(key)).replace(token_algorithm=algorithm)
    signer = Signer.from_settings(settings)
    token = signer.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert signer.verify(token, "access", now=NOW).subject == "user:42"


def test_unreadable_key_file_refused(tmp_path: Path) -> None:
    settings = Settings(
        token_algorithm="RS256",
        token_private_key_file=str(tmp_path / "missing.pem"),
        token_public_key_file=str(tmp_path / "missing.pem"),
    )
    with pytest.raises(SettingsError, match=r"HUB_TOKEN_PRIVATE_KEY_FILE.*missing\.pem"):
        Signer.from_settings(settings)
    with pytest.raises(SettingsError, match="HUB_TOKEN_PRIVATE_KEY_FILE"):
        Signer.from_settings(Settings(token_algorithm="RS256"))


def test_key_files_that_are_not_one_pair_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    settings = write_keys(tmp_path, pem_pair(rsa_key)[0], pem_pair(other)[1])
    with pytest.raises(SettingsError, match="not one key pair"):
        Signer.from_settings(settings.replace(token_algorithm="RS256"))


def test_key_of_the_wrong_kind_refused(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    ec_settings = write_keys(tmp_path, *pem_pair(ec_key))
    with pytest.raises(SettingsError, match=r"HUB_TOKEN_PUBLIC_KEY_FILE.*RSA"):
        Signer.from_settings(ec_settings.replace(token_algorithm="RS256"))
    rsa_settings = write_keys(tmp_path, *pem_pair(rsa_key))
    with pytest.raises(SettingsError, match="P-256"):
        Signer.from_settings(rsa_settings.replace(token_algorithm="ES256"))
    p384_settings = write_keys(tmp_path, *pem_pair(ec.generate_private_key(ec.SECP384R1())))
    with pytest.raises(SettingsError, match="P-256"):
        Signer.from_settings(p384_settings.replace(token_algorithm="ES256"))


def test_short_rsa_key_refused(tmp_path: Path) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    settings = write_keys(tmp_path, *pem_pair(weak)).replace(token_algorithm="RS256")
    with pytest.raises(SettingsError, match="1024-bit"):
        Signer.from_settings(settings)


def test_key_file_that_is_not_pem_refused(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    private_pem, public_pem = pem_pair(rsa_key)
    settings = write_keys(tmp_path, private_pem, b"not a key").replace(token_algorithm="RS256")
    with pytest.raises(SettingsError, match="HUB_TOKEN_PUBLIC_KEY_FILE"):
        Signer.from_settings(settings)
    settings = write_keys(tmp_path, public_pem, public_pem).replace(token_algorithm="RS256")
    with pytest.raises(SettingsError, match="HUB_TOKEN_PRIVATE_KEY_FILE"):
        Signer.from_settings(settings)
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    )
    settings = write_keys(tmp_path, encrypted, public_pem).replace(token_algorithm="RS256")
    with pytest.raises(SettingsError, match="unencrypted"):
        Signer.from_settings(settings)


def test_public_key_alone_verifies_but_cannot_issue(setups: dict[str, Setup]) -> None:
    setup = setups["RS256"]
    verifier = Signer("RS256", issuer=ISSUER, audience=AUDIENCE, public_key_pem=setup.public_pem)
    token = setup.signer.issue("user:42", "access", "j", LIFETIME, now=NOW)
    assert verifier.verify(token, "access", now=NOW).subject == "user:42"
    with pytest.raises(RuntimeError, match="only verify"):
        verifier.issue("user:42", "access", "j", LIFETIME, now=NOW)


@pytest.mark.parametrize(
    ("subject", "token_type", "token_id", "lifetime", "claims"),
    [
        ("", "access", "j", LIFETIME, None),
        ("u", "access", "", LIFETIME, None),
        ("u", "id", "j", LIFETIME, None),
        ("u", "access", "j", timedelta(0), None),
        ("u", "access", "j", timedelta(milliseconds=999), None),
        ("u", "access", "j", LIFETIME, {"exp": 1}),
        ("u", "access", "j", LIFETIME, {"token_use": "refresh"}),
        ("u", "access", "j", LIFETIME, {"blob": "x" * MAX_TOKEN_BYTES}),
    ],
)
def test_issue_refuses_bad_arguments(
    setups: dict[str, Setup],
    subject: str,
    token_type: Any,
    token_id: str,
    lifetime: timedelta,
    claims: dict[str, Any] | None,
) -> None:
    with pytest.raises(ValueError):
        setups["HS256"].signer.issue(
            subject, token_type, token_id, lifetime, now=NOW, claims=claims
        )


def test_naive_now_refused(setups: dict[str, Setup]) -> None:
    signer = setups["HS256"].signer
    with pytest.raises(ValueError, match="aware"):
        signer.issue("u", "access", "j", LIFETIME, now=datetime(2026, 3, 1))
