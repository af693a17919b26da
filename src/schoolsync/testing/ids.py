"""Deterministic id and token sources for tests and replays (never for production secrets)."""

from __future__ import annotations

import base64
import random

import attrs

__all__ = ["SeededTokens", "SequentialIds"]


@attrs.define
class SequentialIds:
    """Ids ``<prefix>1``, ``<prefix>2``, ... in order: a run gives the same ids every time.

    Implements :class:`~schoolsync.ports.IdSource`.
    """

    prefix: str = "id-"
    issued: int = 0

    def new_id(self) -> str:
        """The next id."""
        self.issued += 1
        return f"{self.prefix}{self.issued}"


@attrs.define
class SeededTokens:
    """Tokens from a seeded pseudo-random generator: the same seed gives the same tokens.

    Implements :class:`~schoolsync.ports.TokenSource`. Predictable by design, so only for
    tests; production uses :class:`schoolsync.ids.SystemTokens`.
    """

    seed: int = 0
    _random: random.Random = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def token_urlsafe(self, nbytes: int) -> str:
        """A URL-safe text token of *nbytes* pseudo-random bytes."""
        return base64.urlsafe_b64encode(self.token_bytes(nbytes)).rstrip(b"=").decode("ascii")

    def token_bytes(self, nbytes: int) -> bytes:
        """*nbytes* pseudo-random bytes."""
        return self._random.randbytes(nbytes)

    def choice(self, alphabet: str) -> str:
        """One character of *alphabet*."""
        return self._random.choice(alphabet)
