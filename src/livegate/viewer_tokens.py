"""Signed viewer tokens (JWT): who a viewer is and which events it may join.

Pure but for reading key files. A :class:`TokenVerifier` holds the keys a node
accepts, from one of three sources (``--token-hmac-secret`` for HS256,
``--token-public-key`` for an RS256/ES256 PEM, ``--token-jwks-file`` for several
keys chosen by the token's ``kid``, which is how keys are rotated), and turns a
token into :class:`ViewerClaims` or raises :class:`TokenRefused`.

Claims (see ``docs/security.md``):

- ``sub`` (required): the viewer id, 1 to 128 characters; a join's ``id`` must equal
  it (or be left out).
- ``exp`` (optional, Unix seconds): the connection is closed with 4001 at expiry
  unless a ``refresh`` brought a newer token.
- ``events`` (optional): event ids or glob patterns (``ipl-*``) the viewer may join;
  without it, every event that is not private.
- ``name`` (optional): the display name shown with the viewer's comments.
- ``aud`` / ``iss``: checked when the node is configured with an audience / issuer.

Only the algorithms of the configured keys are accepted (never ``none``, never HS256
with a public key: the algorithm confusion attack), and signatures are checked by
PyJWT. Expiry is checked here against the caller's clock, so the gateway and its
tests decide what "now" is.
"""

from __future__ import annotations

import fnmatch
import hashlib
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from livegate.protocol import MAX_USER_ID_LEN, ErrorCode

__all__ = [
    "MAX_NAME_LEN",
    "MIN_HMAC_SECRET_LEN",
    "TokenRefused",
    "TokenVerifier",
    "ViewerClaims",
    "event_allowed",
    "mint_token",
]

MIN_HMAC_SECRET_LEN: Final = 32
"""Shortest HS256 secret accepted (RFC 7518 3.2: at least the hash's 256 bits)."""
MAX_NAME_LEN: Final = 64
MAX_EVENT_PATTERNS: Final = 64
MAX_PATTERN_LEN: Final = 128
_PATTERN_CHARS: Final = frozenset("-_.:*?[]!")
VERIFIED_CACHE: Final = 10_000
"""Tokens whose signature was checked, remembered (by digest) so that a client joining
or refreshing again and again with one valid token costs a lookup, not a signature check
(ES256 verification is ~100 µs: 20 messages a second on many connections would add up)."""
LEEWAY: Final = 60
"""Seconds of clock skew allowed on ``iat`` and ``nbf`` (the login system's clock may run
ahead of the gateway's); ``exp`` is checked without it."""
MAX_EXP: Final = 2**53
_RSA_ALGORITHMS: Final = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
_EC_ALGORITHMS: Final = ["ES256", "ES384", "ES512"]


class TokenRefused(Exception):
    """A token was refused. ``code`` is ``bad_token`` or ``token_expired``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ViewerClaims:
    """What a valid token says about its viewer."""

    sub: str
    exp: int | None
    """Unix seconds at which the token expires; None: never."""
    events: tuple[str, ...] | None
    """Event ids or globs the viewer may join; None: every public event."""
    name: str | None

    def expires_in(self, now: float) -> int | None:
        """Whole seconds left at ``now`` (Unix seconds); None for a token without ``exp``."""
        return None if self.exp is None else max(0, int(self.exp - now))


def event_allowed(claims: ViewerClaims | None, event_id: str, private: bool) -> bool:
    """Whether a viewer with ``claims`` (None: anonymous) may join ``event_id``.

    A private event needs a token whose ``events`` names it; a token with ``events``
    joins those events only; anyone else joins every public event.
    """
    if claims is None or claims.events is None:
        return not private
    return any(fnmatch.fnmatchcase(event_id, pattern) for pattern in claims.events)


@dataclass(frozen=True, slots=True)
class _Key:
    key: Any
    algorithms: list[str]


class TokenVerifier:
    """The keys viewer tokens are checked with. Build it with :meth:`load`."""

    def __init__(
        self,
        keys: dict[str | None, _Key],
        *,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> None:
        self._keys = keys
        self.audience = audience or None
        self.issuer = issuer or None
        self._verified: OrderedDict[bytes, ViewerClaims] = OrderedDict()

    @classmethod
    def load(
        cls,
        *,
        hmac_secret: str = "",
        public_key_file: str = "",
        jwks_file: str = "",
        audience: str = "",
        issuer: str = "",
    ) -> TokenVerifier | None:
        """The verifier for these settings, or None when no key is given.

        Raises ValueError naming what is wrong (a short secret, an unreadable or
        unsupported key file, a JWKS without usable keys).
        """
        keys: dict[str | None, _Key] = {}
        if hmac_secret:
            if len(hmac_secret.encode()) < MIN_HMAC_SECRET_LEN:
                raise ValueError(
                    f"the token HMAC secret must be at least {MIN_HMAC_SECRET_LEN} bytes"
                )
            keys[None] = _Key(hmac_secret.encode(), ["HS256"])
        if public_key_file:
            if keys:
                raise ValueError("give one of --token-hmac-secret and --token-public-key")
            keys[None] = _public_key(_read(public_key_file, "token public key"))
        if jwks_file:
            keys.update(_jwks(_read(jwks_file, "token JWKS")))
        if not keys:
            return None
        return cls(keys, audience=audience, issuer=issuer)

    def verify(self, token: str, now: float) -> ViewerClaims:
        """The claims of ``token`` at ``now`` (Unix seconds). Raises :class:`TokenRefused`."""
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        claims = self._verified.get(digest)
        if claims is None:
            claims = self._check(token)
            self._verified[digest] = claims
            if len(self._verified) > VERIFIED_CACHE:
                self._verified.popitem(last=False)
        else:
            self._verified.move_to_end(digest)
        if claims.exp is not None and claims.exp <= now:
            raise TokenRefused(ErrorCode.TOKEN_EXPIRED, "the token has expired")
        return claims

    def _check(self, token: str) -> ViewerClaims:
        """The claims of a token whose signature and claims verify (expiry aside)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _bad("the token is not a JWT") from None
        kid = header.get("kid")
        key = self._keys.get(kid if isinstance(kid, str) else None) or self._keys.get(None)
        if key is None:
            raise _bad(f"no key for the token's kid {str(kid)[:40]!r}")
        try:
            payload = jwt.decode(
                token,
                key.key,
                algorithms=key.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={
                    "verify_exp": False,  # checked below against the caller's clock
                    "verify_aud": self.audience is not None,
                    "require": ["sub"],
                },
            )
        except jwt.InvalidTokenError as exc:
            raise _bad(_why(exc)) from None
        return _claims(payload)


_REASONS: Final[tuple[tuple[type[jwt.InvalidTokenError], str], ...]] = (
    (jwt.InvalidAudienceError, "the token is for another audience"),
    (jwt.InvalidIssuerError, "the token is from another issuer"),
    (jwt.ImmatureSignatureError, "the token is not valid yet (nbf or iat in the future)"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not accepted"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
)


def _why(exc: jwt.InvalidTokenError) -> str:
    """PyJWT's refusal in words for the ``error`` message (never the token itself)."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no {exc.claim!r} claim"
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    return f"the token is not valid: {str(exc)[:80]}"


def _bad(message: str) -> TokenRefused:
    return TokenRefused(ErrorCode.BAD_TOKEN, message)


def _claims(payload: dict[str, Any]) -> ViewerClaims:
    sub = payload.get("sub")
    if not (isinstance(sub, str) and 0 < len(sub) <= MAX_USER_ID_LEN and _printable(sub)):
        raise _bad(f"'sub' must be a string of 1 to {MAX_USER_ID_LEN} printable characters")
    exp = payload.get("exp")
    if exp is not None and (
        isinstance(exp, bool) or not isinstance(exp, int | float) or not 0 < exp < MAX_EXP
    ):
        raise _bad("'exp' must be a number of seconds since the Unix epoch")
    events = payload.get("events")
    if events is not None:
        if isinstance(events, str):
            events = [events]
        if not (
            isinstance(events, list)
            and len(events) <= MAX_EVENT_PATTERNS
            and all(_valid_pattern(pattern) for pattern in events)
        ):
            raise _bad(
                f"'events' must be a list of at most {MAX_EVENT_PATTERNS} event ids or "
                "patterns (letters, digits, '-_.:' and '*?[]!')"
            )
        events = tuple(events)
    name = payload.get("name")
    if name is not None and not (
        isinstance(name, str) and 0 < len(name) <= MAX_NAME_LEN and _printable(name)
    ):
        raise _bad(f"'name' must be a string of 1 to {MAX_NAME_LEN} printable characters")
    return ViewerClaims(
        sub=sub, exp=None if exp is None else int(exp), events=events, name=name or None
    )


def _valid_pattern(pattern: Any) -> bool:
    return (
        isinstance(pattern, str)
        and 0 < len(pattern) <= MAX_PATTERN_LEN
        and pattern.isascii()
        and all(c.isalnum() or c in _PATTERN_CHARS for c in pattern)
    )


def _printable(text: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in text)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} file {path!r}: {exc.strerror}") from None


def _public_key(pem: bytes) -> _Key:
    try:
        key = load_pem_public_key(pem)
    except ValueError:
        raise ValueError("the token public key is not a PEM public key") from None
    if isinstance(key, RSAPublicKey):
        _check_rsa_size(key, "the token public key")
        return _Key(key, _RSA_ALGORITHMS)
    if isinstance(key, EllipticCurvePublicKey):
        return _Key(key, _EC_ALGORITHMS)
    raise ValueError("the token public key must be an RSA or EC (P-256/384/521) key")


def _check_rsa_size(key: RSAPublicKey, what: str) -> None:
    if key.key_size < 2048:
        raise ValueError(f"{what} is an RSA key shorter than 2048 bits")


def _jwks(raw: bytes) -> dict[str | None, _Key]:
    """Keys of a JWKS document by ``kid``; a key without ``kid`` serves tokens without one."""
    try:
        document = orjson.loads(raw)
        entries = document["keys"]
        if not isinstance(entries, list):
            raise TypeError
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise ValueError('the token JWKS file must be JSON {"keys": [...]}') from None
    keys: dict[str | None, _Key] = {}
    for index, entry in enumerate(entries):
        try:
            jwk = jwt.PyJWK(entry)
        except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, KeyError) as exc:
            raise ValueError(f"the token JWKS key {index} is not usable: {exc}") from None
        if jwk.key_type == "oct":
            if len(jwk.key) < MIN_HMAC_SECRET_LEN:
                raise ValueError(
                    f"the token JWKS key {index} is an HMAC key shorter than "
                    f"{MIN_HMAC_SECRET_LEN} bytes"
                )
            algorithms = ["HS256"]
        elif jwk.key_type in ("RSA", "EC"):
            # A private key would load but never verify: refuse it here, not per token.
            if not isinstance(jwk.key, RSAPublicKey | EllipticCurvePublicKey):
                raise ValueError(
                    f"the token JWKS key {index} is a private key: give its public half"
                )
            if isinstance(jwk.key, RSAPublicKey):
                _check_rsa_size(jwk.key, f"the token JWKS key {index}")
            algorithms = _RSA_ALGORITHMS if jwk.key_type == "RSA" else _EC_ALGORITHMS
        else:
            raise ValueError(f"the token JWKS key {index} has an unsupported type {jwk.key_type}")
        if isinstance(entry, dict) and isinstance(entry.get("alg"), str):
            algorithms = [entry["alg"]] if entry["alg"] in algorithms else []
            if not algorithms:
                raise ValueError(f"the token JWKS key {index} names an algorithm of another type")
        kid = jwk.key_id
        if kid in keys:
            raise ValueError(f"the token JWKS has two keys with kid {kid!r}")
        keys[kid] = _Key(jwk.key, algorithms)
    if not keys:
        raise ValueError("the token JWKS file has no keys")
    return keys


def mint_token(
    *,
    sub: str,
    key: str | bytes,
    algorithm: str = "HS256",
    now: float,
    ttl: float | None = 3600.0,
    events: list[str] | None = None,
    name: str | None = None,
    audience: str | None = None,
    issuer: str | None = None,
    kid: str | None = None,
) -> str:
    """A signed viewer token (``livegate token``, tests, small deployments).

    ``key`` is the HMAC secret for HS256, or a PEM private key for RS256/ES256.
    The claims are checked as :meth:`TokenVerifier.verify` will check them.
    """
    payload: dict[str, Any] = {"sub": sub, "iat": int(now)}
    if ttl is not None:
        payload["exp"] = int(now + ttl)
    if events is not None:
        payload["events"] = events
    if name is not None:
        payload["name"] = name
    if audience:
        payload["aud"] = audience
    if issuer:
        payload["iss"] = issuer
    try:
        _claims(payload)
    except TokenRefused as exc:
        raise ValueError(exc.message) from None
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers)
