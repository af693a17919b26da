"""A :class:`~schoolsync.ports.Notifier` that records messages instead of sending them."""

from __future__ import annotations

import attrs

from schoolsync.ports import OutboundMessage

__all__ = ["RecordingNotifier"]


@attrs.define
class RecordingNotifier:
    """Keeps every message it is asked to send, in order, in ``messages``."""

    messages: list[OutboundMessage] = attrs.field(factory=list)

    def send(self, message: OutboundMessage) -> None:
        """Record *message*."""
        self.messages.append(message)

    def of_kind(self, kind: str) -> list[OutboundMessage]:
        """The recorded messages of one kind (e.g. ``"welcome"``)."""
        return [m for m in self.messages if m.kind == kind]
