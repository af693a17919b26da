"""Sending outbound messages as email over SMTP (an adapter: the only module that speaks SMTP).

:class:`SmtpNotifier` is a :class:`~schoolsync.ports.Notifier` built on the standard library's
:mod:`smtplib`. Feed it from the outbox (:func:`schoolsync.outbox.deliver_outbox`) after the
change that queued the message has committed, so a rolled-back change never sends anything::

    notifier = SmtpNotifier(
        host="smtp.example.org", sender="MAT admin <noreply@example.org>",
        username="mailer", password=os.environ["SMTP_PASSWORD"],
        links={"trust_admin_nomination": "https://app.example/trust-admin?token={token}"},
    )
    with notifier:
        deliver_outbox(store, notifier, at=clock.now())

Failures raise :class:`~schoolsync.errors.DeliveryError` with ``transient`` set for replies a
later attempt may get past (4xx, a dropped connection, a timeout) and cleared for refusals
(5xx). Neither the error text nor the notifier's ``repr`` holds the password, the recipient or
the message.
"""

from __future__ import annotations

import smtplib
import ssl
import string
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from enum import StrEnum
from types import TracebackType
from typing import Self

import attrs

from schoolsync.errors import DeliveryError, ValidationError
from schoolsync.records.messages import OutboundMessage

__all__ = ["DEFAULT_BODIES", "SmtpNotifier", "SmtpSecurity", "render_email"]


class SmtpSecurity(StrEnum):
    """How the connection to the SMTP server is protected."""

    STARTTLS = "starttls"  #: plain connection upgraded with STARTTLS (port 587)
    TLS = "tls"  #: TLS from the first byte (port 465)
    NONE = "none"  #: no encryption: only for a relay on the same machine or a test server


#: The plain-text body of each message kind the library queues. ``{link}`` is the host's link
#: for that kind (see ``SmtpNotifier.links``); other fields come from the message's ``data``.
DEFAULT_BODIES: Mapping[str, str] = {
    "trust_invitation": (
        "Your school has been invited to join a trust.\n\n"
        "Your school's Access Coordinator can accept or decline the invitation here:\n{link}\n\n"
        "The invitation expires at {expires_at}."
    ),
    "trust_admin_nomination": (
        "You have been nominated as an administrator of your trust.\n\n"
        "Accept the role here:\n{link}\n\nThe link expires at {expires_at}."
    ),
    "welcome": "Welcome, {name}.\n\nSet your password here:\n{link}",
    "user_sign_up": (
        "Hello {name},\n\nAn account has been created for you. Sign up here:\n{link}\n\n"
        "Your administrator will give you an activation code separately."
    ),
}

_FALLBACK_BODY = "{subject}"


def _fields(template: str) -> list[str]:
    """The plain ``{name}`` fields of *template*; anything fancier is refused up front."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValidationError("template", template, f"not a valid template ({exc})") from None
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValidationError(
                "template",
                template,
                f"field {{{name}}} must be a plain name (no attribute, index, format or "
                "conversion)",
            )
        names.append(name)
    return names


def _fill(template: str, values: Mapping[str, str]) -> str:
    for name in _fields(template):
        if name not in values:
            raise ValidationError(
                "template", template, f"needs {{{name}}}, which the message does not carry"
            )
    return template.format_map(values)


def render_email(
    message: OutboundMessage,
    *,
    sender: str,
    links: Mapping[str, str] | None = None,
    bodies: Mapping[str, str] | None = None,
    domain: str | None = None,
) -> EmailMessage:
    """The email for *message*: its subject, a plain-text body from *bodies* (default
    :data:`DEFAULT_BODIES`) and, where the kind has one, the host's link from *links* filled
    from the message's data (``{token}``, ``{account_id}``...).

    Raises:
        ValidationError: a template uses a field the message does not carry, or is not a plain
            ``{name}`` template.
    """
    values: dict[str, str] = {"subject": message.subject, **message.data}
    link_template = (links or {}).get(message.kind)
    values["link"] = _fill(link_template, values) if link_template else values.get("link", "")
    body = (bodies or DEFAULT_BODIES).get(message.kind) or DEFAULT_BODIES.get(
        message.kind, _FALLBACK_BODY
    )
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = sender
    email["To"] = message.to
    email["Message-ID"] = make_msgid(domain=domain)
    email["X-Schoolsync-Kind"] = message.kind
    email.set_content(_fill(body, values))
    return email


@attrs.define(kw_only=True)
class SmtpNotifier:
    """A :class:`~schoolsync.ports.Notifier` that sends each message as an email over SMTP.

    Use it as a context manager to send many messages over one connection; used bare, each
    :meth:`send` opens and closes its own. ``links`` maps a message kind to the host's URL
    template for it (``"https://app.example/accept?token={token}"``).
    """

    host: str
    sender: str
    port: int = 587
    security: SmtpSecurity = SmtpSecurity.STARTTLS
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    timeout: float = 30.0
    links: Mapping[str, str] = attrs.field(factory=dict)
    bodies: Mapping[str, str] = attrs.field(factory=lambda: dict(DEFAULT_BODIES))
    ssl_context: ssl.SSLContext | None = attrs.field(default=None, repr=False)
    _connection: smtplib.SMTP | None = attrs.field(default=None, init=False, repr=False)
    _held: bool = attrs.field(default=False, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for template in (*self.links.values(), *self.bodies.values()):
            _fields(template)

    def __enter__(self) -> Self:
        self._held = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._held = False
        self.close()

    def close(self) -> None:
        """Close the connection, if one is open."""
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.quit()
            except (smtplib.SMTPException, OSError):
                connection.close()

    def send(self, message: OutboundMessage) -> None:
        """Send *message* as an email.

        Raises:
            DeliveryError: the server refused it (``transient`` false for 5xx replies) or could
                not be reached or answered 4xx (``transient`` true).
            ValidationError: the message lacks a field its templates need.
        """
        email = render_email(message, sender=self.sender, links=self.links, bodies=self.bodies)
        try:
            connection = self._connect()
            refused = connection.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            raise self._error("refused the recipient", codes[0] if codes else None) from None
        except smtplib.SMTPResponseException as exc:
            self.close()
            raise self._error("refused the message", exc.smtp_code) from None
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            raise DeliveryError(
                f"SMTP server {self.host}:{self.port} could not be used ({type(exc).__name__})",
                transient=True,
            ) from None
        finally:
            if not self._held:
                self.close()
        if refused:
            code = next(iter(refused.values()))[0]
            raise self._error("refused the recipient", code)

    def _error(self, what: str, code: int | None) -> DeliveryError:
        transient = code is None or 400 <= code < 500
        return DeliveryError(
            f"SMTP server {self.host}:{self.port} {what} (reply {code})",
            transient=transient,
            code=code,
        )

    def _connect(self) -> smtplib.SMTP:
        if self._connection is not None:
            return self._connection
        context = self.ssl_context or ssl.create_default_context()
        connection: smtplib.SMTP
        if self.security is SmtpSecurity.TLS:
            connection = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=context
            )
        else:
            connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            connection.ehlo()
            if self.security is SmtpSecurity.STARTTLS:
                connection.starttls(context=context)
                connection.ehlo()
            if self.username is not None:
                connection.login(self.username, self.password or "")
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection
