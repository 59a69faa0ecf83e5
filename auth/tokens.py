"""Signed access and refresh tokens (JWT): python-jose behind one small module.

Exactly one algorithm is accepted, the configured one. python-jose picks the key
type from the token's own ``alg`` header, so with a mixed list an HS256 token
HMAC-signed with the (public) RSA/EC key would verify; here the header must name
the configured algorithm before jose sees the token, jose gets only that one,
and the key it gets is already built for it.

jose verifies the signature only. The claims are checked here: jose's claim
checks read the wall clock (no ``now`` to test with), treat absent claims as
fine unless told, and let a non-numeric ``exp`` escape as ``TypeError``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jws, jwt
from jose.exceptions import JOSEError

from hub.settings import MIN_SECRET_BYTES, Settings, SettingsError

Algorithm = Literal["HS256", "RS256", "ES256"]
TokenType = Literal["access", "refresh"]

# The hub's token type claim; not the JOSE header ``typ`` (always "JWT").
TYPE_CLAIM = "token_use"
REGISTERED_CLAIMS = frozenset({"iss", "aud", "exp", "iat", "nbf", "sub", "jti", TYPE_CLAIM})
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "jti", TYPE_CLAIM)
# A token is a header: a few claims and a signature; anything far bigger is an attack.
MAX_TOKEN_BYTES = 8192
# Hub processes' clocks may differ a little; a token from "the future" beyond that is forged.
CLOCK_LEEWAY = timedelta(seconds=30)
MIN_RSA_BITS = 2048

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_MESSAGES = {
    "malformed": "The token is not a well-formed signed token.",
    "algorithm": "The token is not signed with the accepted algorithm.",
    "signature": "The token's signature is not valid.",
    "expired": "The token has expired.",
    "audience": "The token is not meant for this service.",
    "issuer": "The token was not issued by this service.",
    "claims": "The token's claims are missing or invalid.",
    "type": "The token is of the wrong type for this use.",
}
_PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
_PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
TokenErrorReason = Literal[
    "malformed", "algorithm", "signature", "expired", "audience", "issuer", "claims", "type"
]


class TokenError(Exception):
    """A refused token. ``reason`` is a short code; the message is safe to show a client."""

    def __init__(self, reason: TokenErrorReason, detail: str | None = None) -> None:
        super().__init__(detail or _MESSAGES[reason])
        self.reason: TokenErrorReason = reason


@dataclass(frozen=True)
class Claims:
    subject: str
    token_id: str
    token_type: TokenType
    issued_at: datetime
    expires_at: datetime
    # the hub's own claims (e.g. "sid", "roles"), read-only
    extra: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class Signer:
    """Issues and verifies the hub's tokens with one algorithm and one key (pair).

    Without a private key (a subgraph holding only the public key) it verifies only.
    """

    def __init__(
        self,
        algorithm: Algorithm,
        *,
        issuer: str,
        audience: str,
        secret: str | None = None,
        private_key_pem: bytes | None = None,
        public_key_pem: bytes | None = None,
    ) -> None:
        if algorithm not in get_args(Algorithm):
            raise SettingsError(
                f"Config 'HUB_TOKEN_ALGORITHM' has value '{algorithm}'. "
                "Must be one of: HS256, RS256, ES256."
            )
        if not issuer or not audience:
            raise SettingsError("Config 'HUB_TOKEN_ISSUER' and 'HUB_TOKEN_AUDIENCE' must be set.")
        self.algorithm: Algorithm = algorithm
        self.issuer = issuer
        self.audience = audience
        # jose keys are untyped; built once here, for this algorithm only
        self._signing_key: Any
        self._verifying_key: Any
        if algorithm == "HS256":
            self._signing_key = self._verifying_key = jwk.construct(_hmac_secret(secret), "HS256")
        else:
            public = _public_key(algorithm, public_key_pem)
            # verifying with the private key object would work but jose warns; use the public
            self._verifying_key = jwk.construct(public, algorithm)
            self._signing_key = None
            if private_key_pem is not None:
                private = _private_key(algorithm, private_key_pem)
                if _spki(private.public_key()) != _spki(public):
                    raise SettingsError(
                        "Config 'HUB_TOKEN_PRIVATE_KEY_FILE' and 'HUB_TOKEN_PUBLIC_KEY_FILE' "
                        "are not one key pair."
                    )
                self._signing_key = jwk.construct(private, algorithm)

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer:
        algorithm = settings.token_algorithm
        if algorithm == "HS256":
            return cls(
                algorithm,
                issuer=settings.token_issuer,
                audience=settings.token_audience,
                secret=settings.secret_key,
            )
        return cls(
            algorithm,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            private_key_pem=_read("HUB_TOKEN_PRIVATE_KEY_FILE", settings.token_private_key_file),
            public_key_pem=_read("HUB_TOKEN_PUBLIC_KEY_FILE", settings.token_public_key_file),
        )

    def issue(
        self,
        subject: str,
        token_type: TokenType,
        token_id: str,
        lifetime: timedelta,
        *,
        now: datetime | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        if self._signing_key is None:
            raise RuntimeError("This signer has no private key; it can only verify tokens.")
        if not subject or not token_id:
            raise ValueError("A token needs a subject and a token id.")
        if token_type not in get_args(TokenType):
            raise ValueError(f"Token type '{token_type}' is not one of: access, refresh.")
        # whole seconds on the wire: under one second, exp could equal iat
        if lifetime < timedelta(seconds=1):
            raise ValueError(f"Token lifetime {lifetime} must be at least one second.")
        clashing = sorted(REGISTERED_CLAIMS & set(claims or {}))
        if clashing:
            raise ValueError(f"Extra claims {clashing} would overwrite the token's own claims.")
        issued = _now(now)
        payload: dict[str, Any] = {
            **(claims or {}),
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "jti": token_id,
            TYPE_CLAIM: token_type,
            "iat": int(issued.timestamp()),
            "exp": int((issued + lifetime).timestamp()),
        }
        token = str(jws.sign(payload, self._signing_key, algorithm=self.algorithm))
        if len(token) > MAX_TOKEN_BYTES:
            # verify() would refuse it; better to fail here, where the cause is known
            raise ValueError(f"The token is {len(token)} bytes; at most {MAX_TOKEN_BYTES}.")
        return token

    def verify(self, token: str, token_type: TokenType, *, now: datetime | None = None) -> Claims:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
            raise TokenError("malformed")
        if not _COMPACT.fullmatch(token):
            raise TokenError("malformed")
        try:
            # jwt's variant, not jws's: it also turns a RecursionError (deeply nested JSON)
            # into a JOSEError
            header = jwt.get_unverified_header(token)
        except JOSEError:
            raise TokenError("malformed") from None
        if header.get("alg") != self.algorithm:
            raise TokenError("algorithm")
        if "crit" in header:
            # RFC 7515: extensions a verifier does not understand must be refused
            raise TokenError("malformed")
        try:
            payload = jws.verify(token, self._verifying_key, algorithms=[self.algorithm])
        except JOSEError:
            raise TokenError("signature") from None
        try:
            claims = json.loads(payload)
        except ValueError:
            raise TokenError("malformed") from None
        if not isinstance(claims, dict):
            raise TokenError("malformed")
        return self._check(claims, token_type, _now(now))

    def _check(self, claims: dict[str, Any], token_type: TokenType, now: datetime) -> Claims:
        for name in REQUIRED_CLAIMS:
            if name not in claims:
                raise TokenError("claims", f"The token lacks the '{name}' claim.")
        subject, token_id, kind = claims["sub"], claims["jti"], claims[TYPE_CLAIM]
        if not all(isinstance(value, str) and value for value in (subject, token_id, kind)):
            raise TokenError("claims")
        if claims["iss"] != self.issuer:
            raise TokenError("issuer")
        audience = claims["aud"]
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise TokenError("audience")
        if kind != token_type:
            raise TokenError("type")
        issued_at = _instant(claims["iat"])
        expires_at = _instant(claims["exp"])
        if expires_at <= issued_at or issued_at > now + CLOCK_LEEWAY:
            raise TokenError("claims")
        if "nbf" in claims and _instant(claims["nbf"]) > now + CLOCK_LEEWAY:
            raise TokenError("claims")
        if now >= expires_at:
            raise TokenError("expired")
        extra = {k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS}
        return Claims(
            subject=subject,
            token_id=token_id,
            token_type=token_type,
            issued_at=issued_at,
            expires_at=expires_at,
            extra=MappingProxyType(extra),
        )


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("'now' must be an aware datetime.")
    return now


def _instant(value: object) -> datetime:
    # whole seconds only, as issue() writes them; bool is an int to Python, not to JSON
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenError("claims")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenError("claims") from None


def _hmac_secret(secret: str | None) -> bytes:
    raw = (secret or "").encode()
    if len(raw) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"Config 'HUB_SECRET_KEY' is {len(raw)} bytes long. "
            f"HS256 tokens need at least {MIN_SECRET_BYTES} bytes."
        )
    return raw


def _read(name: str, path: str) -> bytes:
    if not path:
        raise SettingsError(f"Config '{name}' is unset. HUB_TOKEN_ALGORITHM RS256/ES256 needs it.")
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SettingsError(
            f"Config '{name}' has value '{path}'. Cannot read it: {exc.strerror}."
        ) from None


def _public_key(algorithm: Algorithm, pem: bytes | None) -> _PublicKey:
    name = "HUB_TOKEN_PUBLIC_KEY_FILE"
    try:
        key = serialization.load_pem_public_key(pem or b"")
    except ValueError:
        raise SettingsError(f"Config '{name}' is not a PEM public key.") from None
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        _check_key_kind(name, algorithm, key)
        return key
    raise SettingsError(f"Config '{name}' holds a key that {algorithm} cannot use.")


def _private_key(algorithm: Algorithm, pem: bytes) -> _PrivateKey:
    name = "HUB_TOKEN_PRIVATE_KEY_FILE"
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # TypeError: an encrypted key; the hub has no passphrase to give
        raise SettingsError(f"Config '{name}' is not an unencrypted PEM private key.") from None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        _check_key_kind(name, algorithm, key)
        return key
    raise SettingsError(f"Config '{name}' holds a key that {algorithm} cannot use.")


def _check_key_kind(name: str, algorithm: Algorithm, key: _PublicKey | _PrivateKey) -> None:
    if algorithm == "RS256" and isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise SettingsError(
                f"Config '{name}' holds a {key.key_size}-bit RSA key. "
                f"RS256 needs at least {MIN_RSA_BITS} bits."
            )
        return
    if (
        algorithm == "ES256"
        and isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey)
        and isinstance(key.curve, ec.SECP256R1)
    ):
        return
    want = "an RSA key" if algorithm == "RS256" else "a P-256 EC key"
    raise SettingsError(f"Config '{name}' does not hold {want}, which {algorithm} needs.")


def _spki(key: _PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


__all__ = ["Claims", "Signer", "TokenError", "TokenType"]
