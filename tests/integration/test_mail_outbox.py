"""Messages leave through the outbox and a real SMTP server on loopback (aiosmtpd).

Nothing here is mocked: the notifier speaks SMTP to an aiosmtpd server on 127.0.0.1, the outbox
lives in real SQLite, PostgreSQL and in-memory stores, and the concurrency test runs relays in
separate processes.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from schoolsync.errors import DeliveryError, ValidationError
from schoolsync.mail import SmtpNotifier, SmtpSecurity, render_email
from schoolsync.outbox import (
    OutboxNotifier,
    RetryPolicy,
    dead_letters,
    deliver_outbox,
    queue_message,
    retry_dead_letter,
)
from schoolsync.ports import OutboundMessage, Store
from schoolsync.records.tables import OUTBOX
from schoolsync.storage.sqlite import SqliteStore
from schoolsync.testing import SequentialIds
from schoolsync.testing.memory import MemoryStore

AT = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
PASSWORD = "correct-horse-battery-staple"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps what it receives and answers RCPT as it is told."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.replies: list[str] = []  # consumed one per RCPT; "250 OK" once empty
        self.sessions = 0

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        reply = self.replies.pop(0) if self.replies else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.original_content))
        return "250 Message accepted"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = _free_port()
    controller = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticate,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def _notifier(port: int, **kw: Any) -> SmtpNotifier:
    return SmtpNotifier(
        host="127.0.0.1",
        port=port,
        security=SmtpSecurity.NONE,
        sender="Trust admin <noreply@example.org>",
        username="mailer",
        password=PASSWORD,
        timeout=5,
        links={"trust_admin_nomination": "https://app.example/accept?token={token}"},
        **kw,
    )


def _nomination(n: int = 1) -> OutboundMessage:
    return OutboundMessage(
        kind="trust_admin_nomination",
        to=f"admin{n}@school.example.org",
        subject="Accept the trust admin role for Northern Lights",
        data={"trust_id": "t1", "account_id": f"a{n}", "token": f"tok{n}",
              "expires_at": "2026-09-08T08:00:00+00:00"},
    )


def _queue(store: Store, *messages: OutboundMessage, commit: bool = True) -> None:
    ids = SequentialIds(prefix="m")
    with store.unit_of_work() as uow:
        for message in messages:
            queue_message(uow, message, at=AT, ids=ids)
        if commit:
            uow.commit()


def test_a_committed_message_is_sent_with_the_hosts_link(
    store: Store, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    _queue(store, _nomination())
    report = deliver_outbox(store, _notifier(port), at=AT)
    assert (report.sent, report.retrying, report.dead) == (1, 0, 0)
    [email] = mailbox.messages
    assert email["To"] == "admin1@school.example.org"
    assert email["Subject"] == "Accept the trust admin role for Northern Lights"
    assert "https://app.example/accept?token=tok1" in email.get_payload()
    with store.unit_of_work() as uow:
        assert uow.repository(OUTBOX).count() == 0


def test_a_rolled_back_change_sends_nothing(store: Store, smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    def failing_change() -> None:
        with store.unit_of_work() as uow:
            OutboxNotifier(uow, at=AT, ids=SequentialIds()).send(_nomination())
            raise RuntimeError("the change failed after asking for a message")

    with pytest.raises(RuntimeError):
        failing_change()
    _queue(store, _nomination(2), commit=False)
    assert deliver_outbox(store, _notifier(port), at=AT).attempted == 0
    assert mailbox.messages == []


def test_a_4xx_reply_is_retried_after_backoff(store: Store, smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    _queue(store, _nomination())
    mailbox.replies = ["451 4.3.0 try again later"]
    policy = RetryPolicy(first_delay=timedelta(minutes=2))
    assert deliver_outbox(store, _notifier(port), at=AT, policy=policy).retrying == 1
    assert deliver_outbox(
        store, _notifier(port), at=AT + timedelta(minutes=1), policy=policy
    ).attempted == 0
    report = deliver_outbox(store, _notifier(port), at=AT + timedelta(minutes=2), policy=policy)
    assert report.sent == 1
    assert len(mailbox.messages) == 1


def test_a_refusal_is_a_dead_letter_a_person_can_read_and_requeue(
    store: Store, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, port = smtp
    _queue(store, _nomination())
    mailbox.replies = ["550 5.1.1 no such user"]
    assert deliver_outbox(store, _notifier(port), at=AT).dead == 1
    [letter] = dead_letters(store)
    assert letter.error == "DeliveryError 550"
    assert letter.attempts == 1
    retry_dead_letter(store, [letter.id], at=AT + timedelta(hours=1))
    assert deliver_outbox(store, _notifier(port), at=AT + timedelta(hours=1)).sent == 1
    assert dead_letters(store) == []


def test_out_of_attempts_is_a_dead_letter(store: Store) -> None:
    port = _free_port()  # nothing listens here: every attempt fails to connect
    _queue(store, _nomination())
    policy = RetryPolicy(max_attempts=2, first_delay=timedelta(seconds=1))
    assert deliver_outbox(store, _notifier(port), at=AT, policy=policy).retrying == 1
    later = AT + timedelta(seconds=1)
    assert deliver_outbox(store, _notifier(port), at=later, policy=policy).dead == 1
    [letter] = dead_letters(store)
    assert letter.error == "DeliveryError"


def test_one_connection_carries_a_batch(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    store = MemoryStore()
    _queue(store, *(_nomination(n) for n in range(5)))
    with _notifier(port) as notifier:
        assert deliver_outbox(store, notifier, at=AT).sent == 5
    assert mailbox.sessions == 1
    assert sorted(m["To"] for m in mailbox.messages) == [
        f"admin{n}@school.example.org" for n in range(5)
    ]


def test_the_password_and_recipient_never_show(smtp: tuple[Mailbox, int]) -> None:
    mailbox, port = smtp
    notifier = _notifier(port)
    assert PASSWORD not in repr(notifier)
    wrong = SmtpNotifier(
        host="127.0.0.1", port=port, security=SmtpSecurity.NONE, sender="x@example.org",
        username="mailer", password="not-the-password-" + PASSWORD, timeout=5,
    )
    with pytest.raises(DeliveryError) as refused:
        wrong.send(_nomination())
    assert PASSWORD not in str(refused.value)
    assert refused.value.code == 535
    mailbox.replies = ["550 5.1.1 no such user"]
    with pytest.raises(DeliveryError) as bounced:
        notifier.send(_nomination())
    assert "admin1@" not in str(bounced.value)
    assert not bounced.value.transient


def test_templates_take_plain_fields_only() -> None:
    with pytest.raises(ValidationError):
        SmtpNotifier(host="h", sender="s@example.org", links={"welcome": "{token.__class__}"})
    with pytest.raises(ValidationError):
        SmtpNotifier(host="h", sender="s@example.org", links={"welcome": "{token:>999999}"})
    with pytest.raises(ValidationError, match="token"):
        render_email(
            OutboundMessage(kind="welcome", to="a@example.org", subject="Hi", data={"name": "A"}),
            sender="s@example.org",
            links={"welcome": "https://app.example/w?t={token}"},
        )


def _relay(path: str, port: int, start: Any) -> None:
    start.wait(30)
    with SqliteStore(path) as store:
        deliver_outbox(store, _notifier(port), at=AT)


def test_relays_in_several_processes_send_each_message_once(
    smtp: tuple[Mailbox, int], tmp_path: Path
) -> None:
    mailbox, port = smtp
    path = tmp_path / "relays.sqlite3"
    with SqliteStore(path) as store:
        _queue(store, *(_nomination(n) for n in range(30)))
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    relays = [ctx.Process(target=_relay, args=(str(path), port, start)) for _ in range(3)]
    for relay in relays:
        relay.start()
    start.set()
    for relay in relays:
        relay.join(60)
        assert relay.exitcode == 0
    sent = sorted(m["To"] for m in mailbox.messages)
    assert sent == sorted(f"admin{n}@school.example.org" for n in range(30))
    with SqliteStore(path) as store, store.unit_of_work() as uow:
        assert uow.repository(OUTBOX).count() == 0
