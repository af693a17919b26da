"""Two-stage activation codes: single use, expiring, attempt-limited, stored hashed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from schoolsync.access import ActivationOutcome, redeem_activation, start_activation

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FAST = 2**10  # a small scrypt work factor keeps tests quick; the default is 2**14


def test_link_and_code_activate_once() -> None:
    """The right link token and code activate; a second use is refused."""
    challenge, token, code = start_activation("a1", now=NOW, work_factor=FAST)

    outcome, challenge = redeem_activation(challenge, link_token=token, code=code.lower(), now=NOW)
    again, _ = redeem_activation(challenge, link_token=token, code=code, now=NOW)

    assert ActivationOutcome.ACTIVATED == outcome
    assert ActivationOutcome.ALREADY_USED == again


def test_only_hashes_are_stored() -> None:
    """Neither the token nor the code appears in the stored challenge."""
    challenge, token, code = start_activation("a1", now=NOW, work_factor=FAST)

    assert token not in repr(challenge)
    assert code not in repr(challenge)
    assert 8 == len(code)


def test_wrong_code_counts_attempts_then_locks() -> None:
    """Wrong codes count; after the limit even the right code is refused."""
    challenge, token, code = start_activation("a1", now=NOW, max_attempts=2, work_factor=FAST)

    first, challenge = redeem_activation(challenge, link_token=token, code="WRONG123", now=NOW)
    second, challenge = redeem_activation(challenge, link_token=token, code="WRONG123", now=NOW)
    third, _ = redeem_activation(challenge, link_token=token, code=code, now=NOW)

    assert [ActivationOutcome.WRONG_CODE, ActivationOutcome.LOCKED, ActivationOutcome.LOCKED] == [
        first,
        second,
        third,
    ]


def test_code_needs_the_link_too_and_expires() -> None:
    """A right code with a wrong link fails; an expired challenge refuses both."""
    challenge, token, code = start_activation(
        "a1", now=NOW, valid_for=timedelta(hours=1), work_factor=FAST
    )

    wrong_link, challenge = redeem_activation(challenge, link_token="x" + token, code=code, now=NOW)
    late, _ = redeem_activation(
        challenge, link_token=token, code=code, now=NOW + timedelta(hours=1)
    )

    assert ActivationOutcome.WRONG_CODE == wrong_link
    assert ActivationOutcome.EXPIRED == late


def test_codes_are_random() -> None:
    """Two challenges never share a code or a salt."""
    a = start_activation("a1", now=NOW, work_factor=FAST)
    b = start_activation("a1", now=NOW, work_factor=FAST)

    assert a[2] != b[2]
    assert a[0].salt != b[0].salt


def test_hashes_are_salted_scrypt_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The stored hash is scrypt of the code under the challenge's own salt, and redeeming
    compares digests with hmac.compare_digest (never ==)."""
    challenge, token, code = start_activation("a1", now=NOW, work_factor=FAST)
    salt = bytes.fromhex(challenge.salt)
    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def recording(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("schoolsync.access.activation.hmac.compare_digest", recording)
    outcome, _ = redeem_activation(challenge, link_token=token, code=code, now=NOW)

    expected = hashlib.scrypt(code.encode(), salt=salt, n=FAST, r=8, p=1, dklen=32).hex()
    other_salt = hashlib.scrypt(code.encode(), salt=b"x" * 16, n=FAST, r=8, p=1, dklen=32).hex()
    assert expected == challenge.code_hash
    assert other_salt != challenge.code_hash
    assert ActivationOutcome.ACTIVATED == outcome
    assert {challenge.link_hash, challenge.code_hash} == {b for _, b in compared}
