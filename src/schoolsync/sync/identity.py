"""Keyed hashes of a person's identifiers, for erasure tombstones.

A tombstone must let the next sync recognise an erased person without holding any personal data.
It stores ``HMAC-SHA256(key, kind | identifier type | value)`` for each identifier the person had
(MIS id, UPN, former UPNs), with a key only the host holds: without the key the hashes cannot be
reversed or checked against a list of UPNs.
"""

from __future__ import annotations

import hashlib
import hmac

from schoolsync.errors import ValidationError
from schoolsync.sync.records import RecordKind

__all__ = ["identity_hashes", "identity_keys"]

_MIN_KEY_BYTES = 16


def identity_keys(kind: RecordKind, record: object) -> list[str]:
    """The identifier strings of *record* a tombstone covers (``"mis:..."``, ``"upn:..."``)."""
    keys: list[str] = []
    mis_id = getattr(record, "mis_id", None)
    if mis_id:
        keys.append(f"mis:{mis_id}")
    upn = getattr(record, "upn", None)
    if upn is not None:
        keys.append(f"upn:{upn}")
    for former in getattr(record, "former_upns", ()) or ():
        keys.append(f"upn:{former}")
    return [f"{kind.value}|{k}" for k in keys]


def identity_hashes(kind: RecordKind, record: object, key: bytes) -> list[str]:
    """Keyed hashes (hex) of every identifier of *record*.

    Raises:
        ValidationError: *key* is shorter than 16 bytes.
    """
    if len(key) < _MIN_KEY_BYTES:
        raise ValidationError("tombstone_key", "<hidden>", "must be at least 16 bytes")
    return [
        hmac.new(key, k.encode("utf-8"), hashlib.sha256).hexdigest()
        for k in identity_keys(kind, record)
    ]
