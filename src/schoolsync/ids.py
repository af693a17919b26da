"""Id and token sources: :class:`RandomIds` and :class:`SystemTokens` for production.

Like :mod:`schoolsync.clock` for time, this is the only module of the library that draws
randomness (:func:`uuid.uuid4`, :mod:`secrets`); the domain core is given an
:class:`~schoolsync.ports.IdSource` or :class:`~schoolsync.ports.TokenSource` by the service
that calls it. Deterministic sources for tests are in :mod:`schoolsync.testing`
(``SequentialIds``, ``SeededTokens``).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Final

import attrs

from schoolsync.ports import IdSource

__all__ = ["SYSTEM_TOKENS", "RandomIds", "SystemTokens", "ids_or_random"]


@attrs.frozen
class RandomIds:
    """Random ids: a version-4 UUID as 32 hex digits, after *prefix* when one is given."""

    prefix: str = ""

    def new_id(self) -> str:
        """A new random id."""
        return f"{self.prefix}{uuid.uuid4().hex}"


@attrs.frozen
class SystemTokens:
    """Secrets from the operating system's CSPRNG (:mod:`secrets`)."""

    def token_urlsafe(self, nbytes: int) -> str:
        """A URL-safe text token of *nbytes* random bytes."""
        return secrets.token_urlsafe(nbytes)

    def token_bytes(self, nbytes: int) -> bytes:
        """*nbytes* random bytes."""
        return secrets.token_bytes(nbytes)

    def choice(self, alphabet: str) -> str:
        """One character of *alphabet*, chosen at random."""
        return secrets.choice(alphabet)


#: The system token source (stateless and immutable, so one is shared): the default of the
#: functions that must make secrets when a caller gives no :class:`~schoolsync.ports.TokenSource`.
SYSTEM_TOKENS: Final = SystemTokens()


def ids_or_random(ids: IdSource | None) -> IdSource:
    """*ids*, or random ids when the caller gave none (the default of the services)."""
    return RandomIds() if ids is None else ids
