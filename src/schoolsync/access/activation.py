"""Two-stage account activation: an emailed link plus a one-time code handed over out of band.

The codes are random (a :class:`~schoolsync.ports.TokenSource`: by default
:class:`~schoolsync.ids.SystemTokens`, the operating system's CSPRNG), single-use, expiring and
limited in attempts. Only a salted :func:`hashlib.scrypt` hash of the link token and of the
code is stored; comparisons use :func:`hmac.compare_digest`. Pure: the time and the token
source are passed in.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from enum import StrEnum

import attrs

from schoolsync.errors import ValidationError
from schoolsync.ids import SYSTEM_TOKENS
from schoolsync.ports import TokenSource
from schoolsync.records.accounts import ActivationChallenge

__all__ = [
    "ActivationChallenge",
    "ActivationOutcome",
    "redeem_activation",
    "start_activation",
]

#: Code characters: no 0/O, 1/I/L, so a code read aloud or copied from paper is unambiguous.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


class ActivationOutcome(StrEnum):
    """The result of one activation attempt."""

    ACTIVATED = "activated"
    WRONG_CODE = "wrong_code"
    EXPIRED = "expired"
    ALREADY_USED = "already_used"
    LOCKED = "locked"


#: The largest scrypt work factor accepted (2**20 needs 1 GiB of memory per hash).
MAX_WORK_FACTOR = 2**20
_R = 8


def _check_work_factor(n: int) -> None:
    if n < 2 or n > MAX_WORK_FACTOR or n & (n - 1):
        raise ValidationError(
            "work_factor",
            n,
            f"must be a power of two up to 2**20 ({MAX_WORK_FACTOR:,}); the default is 2**14",
        )


def _hash(secret: str, salt: bytes, n: int) -> str:
    _check_work_factor(n)
    # scrypt needs 128 * r * n bytes; OpenSSL refuses more than 32 MiB unless told (maxmem).
    maxmem = 128 * _R * (n + 2) + 1024 * 1024
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=_R, p=1, dklen=32, maxmem=maxmem).hex()


def start_activation(
    account_id: str,
    *,
    now: datetime,
    valid_for: timedelta = timedelta(days=7),
    code_length: int = 8,
    max_attempts: int = 5,
    work_factor: int = 2**14,
    tokens: TokenSource = SYSTEM_TOKENS,
) -> tuple[ActivationChallenge, str, str]:
    """A new challenge, the link token (for the email) and the code (handed over separately).

    Store the challenge; send the token and the code; forget both. *tokens* draws the link
    token (256 bits), the code and the salt (default: the system's CSPRNG; tests may pass
    ``schoolsync.testing.SeededTokens``).
    """
    if code_length < 6:
        raise ValueError("activation codes need at least 6 characters")
    _check_work_factor(work_factor)
    token = tokens.token_urlsafe(32)
    code = "".join(tokens.choice(CODE_ALPHABET) for _ in range(code_length))
    salt = tokens.token_bytes(16)
    challenge = ActivationChallenge(
        account_id=account_id,
        salt=salt.hex(),
        link_hash=_hash(token, salt, work_factor),
        code_hash=_hash(code, salt, work_factor),
        created_at=now,
        expires_at=now + valid_for,
        max_attempts=max_attempts,
        work_factor=work_factor,
    )
    return challenge, token, code


def redeem_activation(
    challenge: ActivationChallenge, *, link_token: str, code: str, now: datetime
) -> tuple[ActivationOutcome, ActivationChallenge]:
    """Check a link token and code; returns the outcome and the challenge to store back.

    A wrong pair counts an attempt; success marks the challenge used (single use). The code is
    compared case-insensitively, ignoring spaces and dashes.
    """
    if challenge.used_at is not None:
        return ActivationOutcome.ALREADY_USED, challenge
    if now >= challenge.expires_at:
        return ActivationOutcome.EXPIRED, challenge
    if challenge.locked:
        return ActivationOutcome.LOCKED, challenge
    salt = bytes.fromhex(challenge.salt)
    cleaned = code.replace(" ", "").replace("-", "").upper()
    link_ok = hmac.compare_digest(
        _hash(link_token, salt, challenge.work_factor), challenge.link_hash
    )
    code_ok = hmac.compare_digest(_hash(cleaned, salt, challenge.work_factor), challenge.code_hash)
    if link_ok and code_ok:
        return ActivationOutcome.ACTIVATED, attrs.evolve(challenge, used_at=now)
    after = attrs.evolve(challenge, attempts=challenge.attempts + 1)
    return (ActivationOutcome.LOCKED if after.locked else ActivationOutcome.WRONG_CODE), after
