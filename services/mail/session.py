"""One SMTP session in sendmail's dialect, on aiosmtpd's SMTP engine.

aiosmtpd does the protocol work: the stream and its limits, the command
timeout, DATA collection with dot-unstuffing and the size limit (RFC 5321
sections 4.5.2 and 4.5.3), AUTH PLAIN and LOGIN (RFC 4954), STARTTLS
(RFC 3207). `SendmailSession` subclasses it so that every line on the wire
is sendmail's:

- the command loop is replaced, for what sendmail does before a command
  runs: a random greeting delay and the check for a client that talks
  first, the 2048-byte command limit, up to 25 unknown commands, the
  `421 ... Rejecting open proxy` answer to HTTP spoken first, and the
  tarpit for too many NOOPs, HELOs or VRFYs (its checksmtpattack);
- MAIL, RCPT, VRFY, EXPN, HELP and ETRN are sendmail's own, since their
  wording and their DSN parameters differ at every step;
- HELO, EHLO, NOOP, RSET, QUIT and DATA keep aiosmtpd's flow and reply
  through handler hooks; the few stock replies still inside aiosmtpd's
  methods (`354 End data with...`, its AUTH and STARTTLS texts) are
  reworded in `push` by the `_STOCK` table.

Every command is recorded as an `smtp.command` event with its replies; the
session as `smtp.session` (open, close); bad input and tricks as
`smtp.anomaly`. Nothing a client sends is written to the diagnostics log.
Memory per session is bounded: a 64 KiB line buffer, the message size
limit, the recipient limit, and writes that wait for the peer to read.

Limitation: lines inside DATA longer than 64 KiB are refused (554), where
sendmail would fold them; no real client sends such lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import (
    SMTP,
    AuthResult,
    Envelope,
    LoginPassword,
    TLSSetupException,
    syntax,
)

from services.mail.dialect import Features, SendmailDialect
from services.mail.message import Arrival
from services.mail.paths import (
    Path,
    PathError,
    check_mail_parameters,
    check_rcpt_parameters,
    split_path,
    valid_hello,
)
from services.mail.scan import Finding, InputScanner
from vnet.service.api import BoundEvents

log = logging.getLogger(__name__)
# aiosmtpd logs every connection at INFO ("Peer: ...", its AUTH mechanisms, a
# deprecation notice on each AUTH); the smtp.session events say the same.
logging.getLogger("mail.log").setLevel(logging.ERROR)

# sendmail's MAXLINE: a longer command is an attack, and ends the session.
COMMAND_LIMIT = 2048
# sendmail's MAXBADCOMMANDS.
BAD_COMMAND_LIMIT = 25
# sendmail's checksmtpattack limits, per command family.
ATTACK_LIMITS = {"NOOP": 20, "VERB": 20, "HELO": 3, "VRFY": 6, "ETRN": 8}
ATTACK_FAMILY = {"EHLO": "HELO", "EXPN": "VRFY"}
TARPIT_MAX = 60.0
# What a session that talked before the greeting may still do (nullserver).
REFUSED_SESSION_ALLOWED = {"QUIT", "HELO", "EHLO", "NOOP", "RSET"}
HTTP_VERBS = {"GET", "POST", "CONNECT", "USER"}
UNIMPLEMENTED = {"SEND", "SOML", "SAML", "TURN"}
POSTMASTER = "postmaster"


class MailService:
    """What a session needs from the service behind it (relay or sink)."""

    def recipient_refusal(self, address: str) -> str | None:
        """None to accept, or `relaying` / `unknown` to refuse."""
        raise NotImplementedError

    def receive(self, arrival: Arrival, events: BoundEvents) -> None:
        """Keep the message durably; raise OSError if that failed."""
        raise NotImplementedError


@dataclass
class SessionSetup:
    """Everything one session is configured with, made by its service."""

    dialect: SendmailDialect
    mail: MailService
    events: BoundEvents
    connection_id: str
    peer: tuple[str, int]
    source: tuple[str, int]
    client_name: str
    host_address: str
    size_limit: int = 10 * 1024 * 1024
    max_recipients: int = 100
    timeout: float = 300.0
    greeting_delay: tuple[float, float] = (0.2, 1.0)
    reject_early_talkers: bool = False
    auth_mechanisms: tuple[str, ...] = ()
    auth_accept: bool = True
    tls_context: Any = None
    queue_id: Callable[[float], str] = lambda now: "0"
    clock: Callable[[], float] = time.time
    random: random.Random = field(default_factory=random.Random)
    # Added to the stored message as X-Vnet-* headers, and to the open event.
    extra_fields: dict[str, str] = field(default_factory=dict)
    open_fields: dict[str, Any] = field(default_factory=dict)


class SendmailEnvelope(Envelope):
    """aiosmtpd's envelope, with what sendmail keeps beside it."""

    def __init__(self) -> None:
        super().__init__()
        self.queue_id: str | None = None
        self.written_sender = ""
        self.parameters: dict[str, str | None] = {}


class CommandRecord:
    __slots__ = ("command", "argument", "replies")

    def __init__(self, command: str, argument: str | None) -> None:
        self.command = command
        self.argument = argument
        self.replies: list[str] = []


class SessionHooks:
    """aiosmtpd's handler: the replies of the commands whose flow it keeps."""

    def __init__(self, session: SendmailSession) -> None:
        self.session = session

    async def handle_HELO(self, server, session, envelope, hostname: str) -> str:
        dialect = self.session.dialect
        if not valid_hello(hostname):
            return dialect.invalid_domain()
        session.host_name = hostname
        return dialect.hello(self.session.setup.client_name)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        dialect = self.session.dialect
        if not valid_hello(hostname):
            return [dialect.invalid_domain()]
        session.host_name = hostname
        return dialect.ehlo(self.session.setup.client_name, self.session.features())

    async def handle_NOOP(self, server, session, envelope, argument) -> str:
        return self.session.dialect.noop()

    async def handle_RSET(self, server, session, envelope) -> str:
        return self.session.dialect.reset()

    async def handle_QUIT(self, server, session, envelope) -> str:
        self.session.close_reason = "quit"
        return self.session.dialect.closing()

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.session.message_received()


class SendmailSession(SMTP):
    """The asyncio Protocol of one connection to a relay or sink."""

    # aiosmtpd's stream limit; DATA lines up to this are taken as they are.
    line_length_limit = 64 * 1024
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, setup: SessionSetup) -> None:
        self.setup = setup
        self.dialect = setup.dialect
        self.scanner = InputScanner()
        self.close_reason = "eof"
        self.messages = 0
        self.commands = 0
        self.bytes_in = 0
        self._record: CommandRecord | None = None
        self._continued: list[str] = []
        self._bad_commands = 0
        self._attacks: Counter[str] = Counter()
        self._greeted = False
        self._early_bytes = 0
        self._refusing = False
        self._first_command = True
        self._opened_at: float | None = None
        self._open_emitted = False
        self._lost = False
        self._noted: set[str] = set()
        self._smuggling = 0
        self._smuggling_at_data = 0
        builtin = ("PLAIN", "LOGIN", "CRAM-MD5")
        super().__init__(
            SessionHooks(self),
            hostname=setup.dialect.hostname,
            ident=f"ESMTP Sendmail {setup.dialect.version}",
            data_size_limit=setup.size_limit or None,
            tls_context=setup.tls_context,
            timeout=setup.timeout,
            auth_require_tls=False,
            auth_exclude_mechanism=[
                m for m in builtin if m not in setup.auth_mechanisms
            ],
            authenticator=self._credentials,
            loop=asyncio.get_running_loop(),
        )

    # --- the connection -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self._opened_at is None
        super().connection_made(transport)
        if first:
            self._opened_at = self.setup.clock()

    def data_received(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if not self._greeted:
            self._early_bytes += len(data)
        for finding in self.scanner.feed(data):
            self._note_finding(finding)
        super().data_received(data)

    def connection_lost(self, error: Exception | None) -> None:
        # A failed STARTTLS handshake ends the session here, and the plain
        # transport's own loss may follow: the record closes once.
        if self._lost:
            return
        self._lost = True
        self._emit_open(None)
        opened = self._opened_at or self.setup.clock()
        self.setup.events.emit(
            "smtp.session",
            state="close",
            reason=self.close_reason,
            messages=self.messages,
            commands=self.commands,
            bytes_in=self.bytes_in,
            duration=round(self.setup.clock() - opened, 6),
        )
        super().connection_lost(error)

    def _timeout_cb(self) -> None:
        # sendmail tells a silent client why it is being dropped.
        self.close_reason = "timeout"
        if self.transport is not None and not self.transport.is_closing():
            reply = self.dialect.timeout(self.setup.client_name)
            self.transport.write(reply.encode("ascii") + b"\r\n")
        super()._timeout_cb()

    def _create_envelope(self) -> SendmailEnvelope:
        return SendmailEnvelope()

    def features(self) -> Features:
        return Features(
            size_limit=self.setup.size_limit,
            auth_mechanisms=self.setup.auth_mechanisms,
            starttls=self.tls_context is not None and self._tls_protocol is None,
        )

    # --- the command loop ---------------------------------------------------

    async def _handle_client(self) -> None:
        try:
            await self._greet()
        except asyncio.CancelledError:
            # The client left during the greeting delay (aiosmtpd cancels
            # this task on EOF): close our side, or it stays half-open.
            self._writer.close()
            raise
        except ConnectionResetError:
            self._writer.close()
            return
        while self.transport is not None:
            try:
                line = await self._next_line()
                if line is not None:
                    await self._serve(line)
            except (asyncio.CancelledError, ConnectionResetError):
                self._writer.close()
                raise
            except TLSSetupException as error:
                self.close_reason = "tls-failed"
                self.setup.events.emit(
                    "smtp.tls", ok=False, error=repr(error.__cause__)
                )
                assert self.transport is not None
                self.transport.close()
                self.connection_lost(error)
                return
            except Exception:
                # A bug of ours: say so in the log, keep the session alive.
                log.exception("%s: SMTP session failed", self.setup.peer[0])
                self.setup.events.emit("smtp.error", command=self._current())
                await self.push(self.dialect.system_failure())

    async def _greet(self) -> None:
        low, high = self.setup.greeting_delay
        await asyncio.sleep(self.setup.random.uniform(low, high))
        early = self._early_bytes
        self._greeted = True
        if early:
            self._anomaly("early-talker", bytes=early)
        if early and self.setup.reject_early_talkers:
            self._refusing = True
            banner = self.dialect.refusing_greeting()
        else:
            banner = self.dialect.greeting(self.setup.clock())
        await self.push(banner)
        self._emit_open(banner)

    async def _next_line(self) -> bytes | None:
        try:
            line = await self._reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as overrun:
            length = await self._skip_line(overrun.consumed)
            await self._end_session("command-too-long", length)
            return None
        except asyncio.IncompleteReadError:
            self.close_reason = "eof"
            assert self.transport is not None
            self.transport.close()
            return None
        if len(line) > COMMAND_LIMIT and line[:5].upper() != b"AUTH ":
            await self._end_session("command-too-long", len(line))
            return None
        return line

    async def _skip_line(self, consumed: int) -> int:
        """Drop the rest of an overlong line, a buffer at a time."""
        skipped = len(await self._reader.read(consumed))
        while True:
            try:
                skipped += len(await self._reader.readuntil(b"\n"))
                return skipped
            except asyncio.LimitOverrunError as overrun:
                skipped += len(await self._reader.read(overrun.consumed))

    async def _end_session(self, reason: str, length: int) -> None:
        self.close_reason = reason
        self._anomaly(reason, length=length)
        await self.push(self.dialect.command_too_long(self.setup.client_name))
        assert self.transport is not None
        self.transport.close()

    async def _serve(self, line: bytes) -> None:
        text = line.rstrip(b"\r\n").decode("utf-8", "surrogateescape")
        verb, argument = _split_command(text)
        self.commands += 1
        self._check_pipelining(verb)
        self._record = CommandRecord(verb, argument)
        try:
            await self._dispatch(verb, argument, text)
        finally:
            record, self._record = self._record, None
            self.setup.events.emit(
                "smtp.command",
                command=record.command,
                argument=record.argument,
                reply=record.replies,
            )

    def _check_pipelining(self, verb: str) -> None:
        """RFC 2920: pipelining only after EHLO, and DATA ends a group."""
        # aiosmtpd's reader keeps what arrived but is not read yet in
        # `_buffer`; aiosmtpd itself reaches into it for STARTTLS.
        waiting = bytes(self._reader._buffer[:4096])
        assert self.session is not None
        if b"\n" in waiting and not self.session.extended_smtp:
            self._anomaly_once("pipelining-without-ehlo", command=verb)
        if waiting and verb == "DATA":
            self._anomaly_once("pipelining-past-data", waiting=len(waiting))

    def _anomaly_once(self, kind: str, **fields: Any) -> None:
        if kind not in self._noted:
            self._noted.add(kind)
            self._anomaly(kind, **fields)

    async def _dispatch(self, verb: str, argument: str | None, text: str) -> None:
        first, self._first_command = self._first_command, False
        if "\0" in text or not verb:
            await self._bad_command(text)
            return
        if first and verb in HTTP_VERBS and argument:
            self.close_reason = "open-proxy-probe"
            self._anomaly("http-command", line=text[:200])
            await self.push(self.dialect.open_proxy(self.setup.client_name))
            assert self.transport is not None
            self.transport.close()
            return
        if self._refusing and verb not in REFUSED_SESSION_ALLOWED:
            await self._bad_command(text, self.dialect.rejected())
            return
        if verb in UNIMPLEMENTED:
            await self.push(self.dialect.not_implemented(text))
            return

        method = self._smtp_methods.get(verb)
        if method is None or not self._offered(verb):
            await self._bad_command(text)
            return
        await self._tarpit(verb)
        self._reset_timeout()
        await method(argument)

    def _offered(self, verb: str) -> bool:
        if verb == "STARTTLS":
            return self.tls_context is not None
        return True

    async def _bad_command(self, text: str, reply: str | None = None) -> None:
        self._bad_commands += 1
        if self._bad_commands > BAD_COMMAND_LIMIT:
            self.close_reason = "too-many-bad-commands"
            self._anomaly("too-many-bad-commands", count=self._bad_commands)
            await self.push(self.dialect.too_many_bad_commands())
            assert self.transport is not None
            self.transport.close()
            return
        await self.push(reply or self.dialect.unrecognized(text))

    async def _tarpit(self, verb: str) -> None:
        """sendmail's checksmtpattack: slow down a client that repeats itself."""
        family = ATTACK_FAMILY.get(verb, verb)
        limit = ATTACK_LIMITS.get(family)
        if limit is None:
            return
        self._attacks[family] += 1
        count = self._attacks[family]
        if count < limit:
            return
        if count == limit:
            self._anomaly("possible-attack", command=family, count=count)
        delay = count // limit + (1 << min(count - limit, 8))
        await asyncio.sleep(min(delay, TARPIT_MAX))

    # --- replies --------------------------------------------------------------

    async def push(self, status: str | bytes) -> None:
        if isinstance(status, bytes):
            text = status.decode("ascii", "replace")
        else:
            text = status
        reworded = _STOCK.get(text)
        if reworded is not None:
            text = reworded(self)
        if self._record is not None:
            self._record.replies.append(text)
        # A multi-line reply leaves in one write, as sendmail's buffered
        # output sends it; clients that read one segment per reply (nmap's
        # scripts) would otherwise fall out of step.
        if len(text) > 3 and text[3] == "-":
            self._continued.append(text)
            return
        lines, self._continued = [*self._continued, text], []
        await super().push("\r\n".join(lines))

    # --- MAIL and RCPT --------------------------------------------------------

    @syntax("MAIL From:<sender> [ <parameters> ]")
    async def smtp_MAIL(self, argument: str | None) -> None:
        assert self.session is not None and self.envelope is not None
        dialect = self.dialect
        if not self.session.host_name:
            await self.push(dialect.need_hello())
            return
        if self.envelope.mail_from is not None:
            await self.push(dialect.sender_already())
            return
        try:
            path = split_path(argument, "FROM")
            check_mail_parameters(path.parameters, self.setup.size_limit)
            address = self._address(path)
        except PathError as error:
            await self.push(self._path_error(error))
            return

        envelope = self.envelope
        assert isinstance(envelope, SendmailEnvelope)
        envelope.mail_from = address
        envelope.written_sender = path.written
        envelope.parameters = dict(path.parameters)
        envelope.mail_options = [_parameter_text(p) for p in path.parameters.items()]
        envelope.queue_id = self.setup.queue_id(self.setup.clock())
        await self.push(dialect.sender_ok(path.written))

    @syntax("RCPT To:<recipient> [ <parameters> ]")
    async def smtp_RCPT(self, argument: str | None) -> None:
        assert self.envelope is not None
        dialect = self.dialect
        if self.envelope.mail_from is None:
            await self.push(dialect.need_mail_before_rcpt())
            return
        try:
            path = split_path(argument, "TO")
            check_rcpt_parameters(path.parameters)
            if path.is_null:
                raise PathError("null", path.written)
            address = self._address(path)
        except PathError as error:
            await self.push(self._path_error(error))
            return

        if len(self.envelope.rcpt_tos) >= self.setup.max_recipients:
            await self.push(dialect.too_many_recipients())
            return
        refusal = self._refusal(address)
        if refusal == "relaying":
            await self.push(dialect.relaying_denied(path.written))
        elif refusal == "unknown":
            await self.push(dialect.user_unknown(path.written))
        else:
            self.envelope.rcpt_tos.append(address)
            self.envelope.rcpt_options += [
                _parameter_text(p) for p in path.parameters.items()
            ]
            await self.push(dialect.recipient_ok(path.written))

    def _address(self, path: Path) -> str:
        if path.is_null:
            return ""
        address, _ = self._getaddr(path.written)
        if not address:
            raise PathError("address", path.written)
        return address

    def _refusal(self, address: str) -> str | None:
        if "@" not in address:
            if address.lower() == POSTMASTER:
                return None
            # The "%" hack and UUCP bang paths name a remote host, not a
            # local user: relaying, which the service accepts or denies.
            if "%" not in address and "!" not in address:
                return "unknown"
        return self.setup.mail.recipient_refusal(address)

    def _path_error(self, error: PathError) -> str:
        dialect = self.dialect
        if error.kind == "syntax":
            return dialect.syntax_scanning(error.text)
        if error.kind == "unbalanced":
            return dialect.unbalanced(error.text)
        if error.kind == "address":
            return dialect.bad_address(error.text)
        if error.kind == "null":
            return dialect.user_address_required(error.text)
        if error.kind == "too-big":
            return dialect.too_big(self.setup.size_limit)
        if error.kind == "unknown-parameter":
            return dialect.parameter_unrecognized(error.keyword)
        if error.kind == "duplicate":
            return dialect.duplicate_parameter(error.keyword)
        return dialect.bad_argument(error.text, error.keyword)

    # --- DATA -----------------------------------------------------------------

    async def smtp_DATA(self, argument: str | None) -> None:
        assert self.envelope is not None
        if self.envelope.mail_from is None:
            await self.push(self.dialect.need_mail())
            return
        if not self.envelope.rcpt_tos:
            await self.push(self.dialect.need_rcpt())
            return
        self._smuggling_at_data = self._smuggling
        await super().smtp_DATA(None)

    def message_received(self) -> str:
        """Store the message that DATA collected; the reply to give."""
        envelope = self.envelope
        assert isinstance(envelope, SendmailEnvelope) and self.session is not None
        arrival = self._arrival(envelope)
        try:
            self.setup.mail.receive(arrival, self.setup.events)
        except OSError as error:
            log.error("%s: message not stored: %s", self.setup.peer[0], error)
            self.setup.events.emit("smtp.error", command="DATA", error=str(error))
            if error.errno == 28:  # ENOSPC
                return self.dialect.no_disk()
            return self.dialect.system_failure()
        self.messages += 1
        return self.dialect.accepted(arrival.queue_id)

    def _arrival(self, envelope: SendmailEnvelope) -> Arrival:
        assert self.session is not None
        extra = dict(self.setup.extra_fields)
        if self._smuggling > self._smuggling_at_data:
            extra["Smuggling"] = str(self._smuggling - self._smuggling_at_data)
        if self.session.authenticated:
            extra["Authenticated"] = "yes"
        content = envelope.original_content or b""
        return Arrival(
            queue_id=envelope.queue_id or self.setup.queue_id(self.setup.clock()),
            sender=envelope.mail_from or "",
            recipients=list(envelope.rcpt_tos),
            content=content,
            peer=self.setup.peer,
            source=self.setup.source,
            helo=self.session.host_name,
            esmtp=self.session.extended_smtp,
            connection=self.setup.connection_id,
            host_name=self.dialect.hostname,
            host_address=self.setup.host_address,
            version=self.dialect.version,
            now=self.setup.clock(),
            utc_offset_minutes=self.dialect.utc_offset_minutes,
            extra=extra,
        )

    # --- the small commands ---------------------------------------------------

    async def smtp_QUIT(self, argument: str | None) -> None:
        # sendmail ignores anything after QUIT.
        await super().smtp_QUIT(None)

    @syntax("VRFY <recipient>")
    async def smtp_VRFY(self, argument: str | None) -> None:
        if not argument:
            await self.push(self.dialect.argument_required())
        else:
            await self.push(self.dialect.cannot_vrfy())

    @syntax("EXPN <recipient>")
    async def smtp_EXPN(self, argument: str | None) -> None:
        await self.push(self.dialect.not_allowed())

    async def smtp_VERB(self, argument: str | None) -> None:
        await self.push(self.dialect.verbose_unavailable())

    async def smtp_ONEX(self, argument: str | None) -> None:
        await self.push(self.dialect.only_one_transaction())

    async def smtp_XUSR(self, argument: str | None) -> None:
        await self.push(self.dialect.initial_submission())

    async def smtp_ETRN(self, argument: str | None) -> None:
        if not argument:
            await self.push(self.dialect.parameter_required())
        elif argument.startswith("#"):
            await self.push(self.dialect.queue_unknown(argument[1:]))
        else:
            await self.push(self.dialect.queuing_started(argument.lstrip("@")))

    @syntax("HELP [ <topic> ]")
    async def smtp_HELP(self, argument: str | None) -> None:
        for line in self.dialect.help(argument):
            await self.push(line)

    # --- AUTH and STARTTLS ----------------------------------------------------

    async def smtp_AUTH(self, argument: str | None) -> None:
        assert self.envelope is not None and self.session is not None
        if not self.setup.auth_mechanisms or not self.session.extended_smtp:
            await self.push(self.dialect.auth_unavailable())
        elif self.envelope.mail_from is not None:
            await self.push(self.dialect.auth_in_transaction())
        else:
            await super().smtp_AUTH(argument)

    async def auth_CRAM__MD5(self, _: Any, arguments: list[str]) -> AuthResult:
        """RFC 2195: the digest is recorded; it cannot be checked here."""
        challenge = f"<{os.getpid()}.{int(self.setup.clock())}@{self.dialect.hostname}>"
        answer = await self.challenge_auth(challenge)
        if not isinstance(answer, bytes):
            return AuthResult(success=False, handled=True)
        login, _, digest = answer.partition(b" ")
        return self._authenticate("CRAM-MD5", LoginPassword(login, digest))

    def _credentials(self, server, session, envelope, mechanism, data) -> AuthResult:
        # Credentials go to the record, never to the diagnostics log.
        self.setup.events.emit(
            "smtp.auth",
            mechanism=mechanism,
            username=data.login.decode("utf-8", "replace"),
            password=data.password.decode("utf-8", "replace"),
            accepted=self.setup.auth_accept,
        )
        if not self.setup.auth_accept:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=LoginPassword(data.login, b""))

    async def smtp_STARTTLS(self, argument: str | None) -> None:
        assert self.envelope is not None
        if argument:
            await self.push(self.dialect.tls_no_parameters())
        elif self._tls_protocol is not None:
            await self.push(self.dialect.tls_unavailable())
        elif self.envelope.mail_from is not None:
            await self.push(self.dialect.tls_in_transaction())
        else:
            await super().smtp_STARTTLS(None)
            assert self._tls_protocol is not None
            cipher = self.transport.get_extra_info("cipher") if self.transport else None
            self.setup.events.emit("smtp.tls", ok=True, cipher=cipher)

    # --- the record -----------------------------------------------------------

    def _emit_open(self, banner: str | None) -> None:
        if self._open_emitted:
            return
        self._open_emitted = True
        self.setup.events.emit(
            "smtp.session",
            state="open",
            hostname=self.dialect.hostname,
            version=self.dialect.version,
            banner=banner,
            **self.setup.open_fields,
        )

    def _note_finding(self, finding: Finding) -> None:
        if finding.kind == "smuggling":
            self._smuggling += 1
        self._anomaly(
            finding.kind,
            sequence=finding.sequence.decode("latin-1"),
            offset=finding.offset,
        )

    def _anomaly(self, kind: str, **fields: Any) -> None:
        self.setup.events.emit("smtp.anomaly", kind=kind, **fields)

    def _current(self) -> str | None:
        return self._record.command if self._record else None


def _split_command(text: str) -> tuple[str, str | None]:
    """The verb in capitals, and the rest without surrounding blanks."""
    parts = re.split(r"[ \t]+", text.strip(" \t"), maxsplit=1)
    verb = parts[0].upper() if parts[0].isascii() else parts[0]
    argument = parts[1].strip() if len(parts) > 1 and parts[1].strip() else None
    return verb, argument


def _parameter_text(item: tuple[str, str | None]) -> str:
    name, value = item
    return name if value is None else f"{name}={value}"


def _mechanism(session: SendmailSession) -> str:
    record = session._record
    argument = record.argument if record else None
    return (argument or "").split(" ")[0]


# aiosmtpd's own wording, where its methods still reply, as sendmail says it.
_STOCK: dict[str, Callable[[SendmailSession], str]] = {
    "354 End data with <CR><LF>.<CR><LF>": lambda s: s.dialect.start_data(),
    "500 Line too long (see RFC5321 4.5.3.1.6)": lambda s: s.dialect.line_too_long(),
    "552 Error: Too much mail data": lambda s: s.dialect.too_big(s.setup.size_limit),
    "501 Syntax: HELO hostname": lambda s: s.dialect.hello_needs_domain("HELO"),
    "501 Syntax: EHLO hostname": lambda s: s.dialect.hello_needs_domain("EHLO"),
    "503 Error: send EHLO first": lambda s: s.dialect.auth_unavailable(),
    "503 Already authenticated": lambda s: s.dialect.already_authenticated(),
    "501 Not enough value": lambda s: s.dialect.mechanism_required(),
    "501 Too many values": lambda s: s.dialect.syntax_scanning(_mechanism(s)),
    "504 5.5.4 Unrecognized authentication type": lambda s: (
        s.dialect.mechanism_unavailable(_mechanism(s))
    ),
    "235 2.7.0 Authentication successful": lambda s: s.dialect.authenticated(),
    "535 5.7.8 Authentication credentials invalid": lambda s: s.dialect.auth_failed(),
    "501 5.7.0 Auth aborted": lambda s: s.dialect.auth_aborted(),
    "501 5.5.2 Can't decode base64": lambda s: s.dialect.cannot_decode(),
    "501 5.5.2 Can't split auth value": lambda s: s.dialect.auth_failed(),
    "220 Ready to start TLS": lambda s: s.dialect.tls_ready(),
    "454 TLS not available": lambda s: s.dialect.tls_unavailable(),
}
