"""Password hashes: scrypt (stdlib) with a per-user salt, its parameters kept in the hash string.

``scrypt$n=32768,r=8,p=1$<salt>$<digest>`` (base64): raising the cost later leaves old hashes
verifiable. About 0.1 s and 32 MiB per hash, which is the point: a stolen table is slow to crack.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

SCHEME: Final = "scrypt"
_N: Final = 2**15
_R: Final = 8
_P: Final = 1
_SALT_BYTES: Final = 16
_DIGEST_BYTES: Final = 32
_MAX_N: Final = 2**20
_MAXMEM: Final = 2**31 - 1
# Verified against when no user has the address, so an unknown one takes as long as a wrong password.
# Nobody knows its password.
UNKNOWN_USER_HASH: Final = (
    "scrypt$n=32768,r=8,p=1$g2zgF4PtWKFtAS3sJcCj9w==$Q2qKo1cRxd5IoD5nvyPwyacW6jm/r4Y/kQCMIvz4NPs="
)


@dataclass(frozen=True, slots=True)
class _Params:
    n: int
    r: int
    p: int


def _derive(password: str, salt: bytes, params: _Params) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=params.n, r=params.r, p=params.p, maxmem=_MAXMEM, dklen=_DIGEST_BYTES
    )


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(_SALT_BYTES)
    params = _Params(_N, _R, _P)
    digest = _derive(password, salt, params)
    return f"{SCHEME}$n={params.n},r={params.r},p={params.p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches; a malformed or foreign hash never matches."""
    try:
        scheme, params_text, salt_text, digest_text = stored.split("$")
        values = dict(item.split("=") for item in params_text.split(","))
        params = _Params(int(values["n"]), int(values["r"]), int(values["p"]))
        salt, digest = (
            base64.b64decode(salt_text, validate=True),
            base64.b64decode(digest_text, validate=True),
        )
    except (ValueError, KeyError):
        return False
    if scheme != SCHEME or not (1 < params.n <= _MAX_N and 0 < params.r <= 32 and 0 < params.p <= 16):
        return False
    return hmac.compare_digest(_derive(password, salt, params), digest)
