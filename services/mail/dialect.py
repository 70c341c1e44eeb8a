"""What a sendmail 8.x says, line for line: the replies of the mail services.

RFC 5321 gives the reply codes, RFC 3463 and RFC 2034 the enhanced status
codes (`2.1.0`), RFC 1870 SIZE, RFC 6152 8BITMIME, RFC 2920 PIPELINING,
RFC 3461 DSN, RFC 1985 ETRN, RFC 3207 STARTTLS, RFC 4954 AUTH, RFC 2852
DELIVERBY, and RFC 5322 the date in the greeting. The wording is sendmail's
as its clients and fingerprinting tools see it: the greeting with version
and date, `Hello [ip], pleased to meet you`, `<addr>... Sender ok`, the EHLO
list in sendmail's order, the HELP topics, and a distinct reply for each
kind of mistake, since honeypot detectors count how many different errors a
server has.

This module is pure: it formats text from values, and the time is an
argument. It is configured as a site that follows the usual hardening
(PrivacyOptions goaway): VRFY and EXPN give nothing away and MAIL needs a
HELO first. Left out: VERB output, DELIVERBY semantics and the `-bt` test
mode; they change nothing a client on the network can rely on.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

# Versions that each operating system shipped, so that a host's banner fits
# the personality its TCP/IP stack shows nmap. Matched by name prefix; the
# first entry that matches wins.
VERSIONS_BY_PERSONALITY = (
    ("OpenBSD", "8.14.3/8.14.3"),
    ("FreeBSD 6", "8.13.8/8.13.8"),
    ("FreeBSD", "8.14.5/8.14.5"),
    ("Linux 2.6", "8.14.3/8.14.3/Debian-9.4"),
    ("Linux", "8.14.4/8.14.4/Debian-4"),
)
DEFAULT_VERSION = "8.14.4/8.14.4"

# sendmail's base-60 digits for queue ids (RFC-free, its own convention).
QUEUE_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun")
MONTHS += ("Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# sendmail shortens what it echoes of a bad command to this many characters.
ECHO_LIMIT = 203

HELP_TOPICS = (
    "\tHELO\tEHLO\tMAIL\tRCPT\tDATA",
    "\tRSET\tNOOP\tQUIT\tHELP\tVRFY",
    "\tEXPN\tVERB\tETRN\tDSN\tAUTH",
    "\tSTARTTLS",
)

HELP_TEXT = {
    "HELO": ("HELO <hostname>", "\tIntroduce yourself."),
    "EHLO": (
        "EHLO <hostname>",
        "\tIntroduce yourself, and request extended SMTP mode.",
    ),
    "MAIL": (
        "MAIL From:<sender> [ <parameters> ]",
        "\tSpecifies the sender.  Parameters are ESMTP extensions.",
        '\tSee "HELP DSN" for details.',
    ),
    "RCPT": (
        "RCPT To:<recipient> [ <parameters> ]",
        "\tSpecifies the recipient.  Can be used any number of times.",
        '\tParameters are ESMTP extensions.  See "HELP DSN" for details.',
    ),
    "DATA": (
        "DATA",
        "\tFollowing text is collected as the message.",
        "\tEnd with a single dot.",
    ),
    "RSET": ("RSET", "\tResets the system."),
    "QUIT": ("QUIT", "\tExit sendmail (SMTP)."),
    "HELP": ("HELP [ <topic> ]", "\tThe HELP command gives help info."),
    "NOOP": ("NOOP", "\tDo nothing."),
    "VRFY": (
        "VRFY <recipient>",
        "\tVerify an address.  If you want to see what it aliases",
        "\tto, use EXPN instead.",
    ),
    "EXPN": (
        "EXPN <recipient>",
        "\tExpand an address.  If the address indicates a mailing",
        "\tlist, return the contents of that list.",
    ),
    "ETRN": (
        "ETRN [ <hostname> | @<domain> | \\#<queuename> ]",
        "\tRun the queue for the specified <hostname>, or",
        "\tall hosts within a given <domain>, or a specially-named",
        "\t<queuename> (implementation-specific).",
    ),
    "AUTH": ("AUTH mechanism [initial-response]", "\tStart authentication."),
    "STARTTLS": ("STARTTLS", "\tStart TLS negotiation."),
    "DSN": (
        "MAIL FROM: <sender> [ RET={ FULL | HDRS} ] [ ENVID=<envid> ]",
        "RCPT TO: <recipient> [ NOTIFY={NEVER,SUCCESS,FAILURE,DELAY} ]",
        "\t\t     [ ORCPT=<recipient> ]",
        "\tSMTP Delivery Status Notifications.",
    ),
}


def rfc5322_date(now: float, utc_offset_minutes: int = 0) -> str:
    """`Thu, 3 Dec 2026 11:04:33 +0100`: the day unpadded, as sendmail has it."""
    zone = datetime.timezone(datetime.timedelta(minutes=utc_offset_minutes))
    moment = datetime.datetime.fromtimestamp(now, zone)
    sign = "-" if utc_offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(utc_offset_minutes), 60)
    return (
        f"{DAYS[moment.weekday()]}, {moment.day} {MONTHS[moment.month - 1]} "
        f"{moment.year} {moment:%H:%M:%S} {sign}{hours:02d}{minutes:02d}"
    )


def queue_id(now: float, sequence: int, pid: int) -> str:
    """A sendmail 8.12+ queue id: YMDhms, two sequence digits, the pid.

    Year (since 1900), month, day, hour, minute and second are one base-60
    digit each, then two digits of sequence and a six-digit process id:
    `u7SGsJ3p015245`.
    """
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    digits = QUEUE_DIGITS
    stamp = (
        digits[(moment.year - 1900) % 60]
        + digits[moment.month - 1]
        + digits[moment.day]
        + digits[moment.hour]
        + digits[moment.minute]
        + digits[moment.second]
    )
    serial = digits[(sequence // 60) % 60] + digits[sequence % 60]
    return f"{stamp}{serial}{pid % 1000000:06d}"


def version_for(personality: str | None) -> str:
    """The sendmail version a host of this personality would run."""
    for prefix, version in VERSIONS_BY_PERSONALITY:
        if personality and personality.startswith(prefix):
            return version
    return DEFAULT_VERSION


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    """What sendmail echoes of a long command: the start, then `...`."""
    if len(text) <= limit:
        return text
    return text[: limit - 3] + "..."


def printable(text: str) -> str:
    """Control characters shown as sendmail's `^X`, never sent raw."""
    out = []
    for character in text:
        code = ord(character)
        if code < 32 or code == 127:
            out.append("^" + chr(code ^ 0x40))
        elif code > 127:
            out.append("?")
        else:
            out.append(character)
    return "".join(out)


@dataclass(frozen=True)
class Features:
    """What one session offers in its EHLO reply."""

    size_limit: int
    auth_mechanisms: tuple[str, ...] = ()
    starttls: bool = False


@dataclass(frozen=True)
class SendmailDialect:
    """The replies of one sendmail host.

    `hostname` is `$j`, the name it greets with; `version` the whole
    `8.14.4/8.14.4` pair, with a vendor suffix if the OS adds one.
    """

    hostname: str
    version: str = DEFAULT_VERSION
    utc_offset_minutes: int = 0

    @property
    def release(self) -> str:
        return self.version.split("/")[0]

    # --- connection ---------------------------------------------------------

    def greeting(self, now: float) -> str:
        date = rfc5322_date(now, self.utc_offset_minutes)
        return f"220 {self.hostname} ESMTP Sendmail {self.version}; {date}"

    def refusing_greeting(self) -> str:
        """The banner after pre-greeting traffic (FEATURE(greet_pause))."""
        return f"554 {self.hostname} ESMTP not accepting messages"

    def closing(self) -> str:
        return f"221 2.0.0 {self.hostname} closing connection"

    def timeout(self, client: str) -> str:
        return (
            f"451 4.4.1 timeout waiting for input from {client} during server cmd read"
        )

    def command_too_long(self, client: str) -> str:
        return f"421 4.7.0 {self.hostname} Command too long, possible attack {client}"

    def open_proxy(self, client: str) -> str:
        return f"421 4.7.0 {self.hostname} Rejecting open proxy {client}"

    def too_many_bad_commands(self) -> str:
        return f"421 4.7.0 {self.hostname} Too many bad commands; closing connection"

    def rejected(self) -> str:
        return "550 5.0.0 Command rejected"

    def unrecognized(self, line: str) -> str:
        return f'500 5.5.1 Command unrecognized: "{shorten(printable(line))}"'

    def not_implemented(self, line: str) -> str:
        return f'502 5.5.1 Command not implemented: "{shorten(printable(line))}"'

    def system_failure(self) -> str:
        return "451 4.3.0 Temporary system failure. Please try again later."

    def no_disk(self) -> str:
        return "452 4.4.5 Insufficient disk space; try again later"

    # --- HELO and EHLO --------------------------------------------------------

    def hello(self, client: str) -> str:
        return f"250 {self.hostname} Hello {client}, pleased to meet you"

    def ehlo(self, client: str, features: Features) -> list[str]:
        """The EHLO reply, extensions in the order sendmail prints them."""
        lines = [
            f"{self.hostname} Hello {client}, pleased to meet you",
            "ENHANCEDSTATUSCODES",
            "PIPELINING",
            "8BITMIME",
            f"SIZE {features.size_limit}" if features.size_limit else "SIZE",
            "DSN",
            "ETRN",
        ]
        if features.auth_mechanisms:
            lines.append("AUTH " + " ".join(features.auth_mechanisms))
        if features.starttls:
            lines.append("STARTTLS")
        lines += ["DELIVERBY", "HELP"]
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    def hello_needs_domain(self, verb: str) -> str:
        return f"501 5.0.0 {verb} requires domain address"

    def invalid_domain(self) -> str:
        return "501 5.0.0 Invalid domain name"

    # --- the envelope ---------------------------------------------------------

    def need_hello(self) -> str:
        return "503 5.0.0 Polite people say HELO first"

    def sender_already(self) -> str:
        return "503 5.5.0 Sender already specified"

    def syntax_scanning(self, word: str) -> str:
        return f'501 5.5.2 Syntax error in parameters scanning "{word}"'

    def unbalanced(self, text: str) -> str:
        return f"553 5.0.0 {printable(text)}... Unbalanced '<'"

    def bad_address(self, text: str) -> str:
        return f"553 5.1.3 {printable(text)}... Invalid route address"

    def sender_ok(self, text: str) -> str:
        return f"250 2.1.0 {printable(text)}... Sender ok"

    def too_big(self, limit: int) -> str:
        return f"552 5.2.3 Message size exceeds fixed maximum message size ({limit})"

    def parameter_unrecognized(self, keyword: str) -> str:
        return f"555 5.5.4 {printable(keyword)} parameter unrecognized"

    def bad_argument(self, value: str, keyword: str) -> str:
        return f'501 5.5.4 Bad argument "{printable(value)}"  to {keyword}'

    def duplicate_parameter(self, keyword: str) -> str:
        return f"501 5.5.0 Duplicate {keyword} parameter"

    def need_mail_before_rcpt(self) -> str:
        return "503 5.0.0 Need MAIL before RCPT"

    def user_address_required(self, text: str) -> str:
        return f"553 5.0.0 {printable(text)}... User address required"

    def too_many_recipients(self) -> str:
        return "452 4.5.3 Too many recipients"

    def relaying_denied(self, text: str) -> str:
        return f"550 5.7.1 {printable(text)}... Relaying denied"

    def user_unknown(self, text: str) -> str:
        return f"550 5.1.1 {printable(text)}... User unknown"

    def recipient_ok(self, text: str) -> str:
        return f"250 2.1.5 {printable(text)}... Recipient ok"

    # --- the message ----------------------------------------------------------

    def need_mail(self) -> str:
        return "503 5.0.0 Need MAIL command"

    def need_rcpt(self) -> str:
        return "503 5.0.0 Need RCPT (recipient)"

    def start_data(self) -> str:
        return '354 Enter mail, end with "." on a line by itself'

    def line_too_long(self) -> str:
        return "554 5.6.0 Message line too long"

    def accepted(self, queue: str) -> str:
        return f"250 2.0.0 {queue} Message accepted for delivery"

    # --- everything else ------------------------------------------------------

    def reset(self) -> str:
        return "250 2.0.0 Reset state"

    def noop(self) -> str:
        return "250 2.0.0 OK"

    def cannot_vrfy(self) -> str:
        return (
            "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)"
        )

    def argument_required(self) -> str:
        return "501 5.5.2 Argument required"

    def not_allowed(self) -> str:
        return "502 5.7.0 Sorry, we do not allow this operation"

    def verbose_unavailable(self) -> str:
        return "502 5.7.0 Verbose unavailable"

    def parameter_required(self) -> str:
        return "500 5.5.2 Parameter required"

    def queue_unknown(self, name: str) -> str:
        return f"459 4.5.4 Queue {printable(name)} unknown"

    def queuing_started(self, node: str) -> str:
        return f"250 2.0.0 Queuing for node {printable(node)} started"

    def only_one_transaction(self) -> str:
        return "250 2.0.0 Only one transaction"

    def initial_submission(self) -> str:
        return "250 2.0.0 Initial submission"

    def help(self, topic: str | None) -> list[str]:
        """HELP, or HELP <topic>: 214 lines ending with `End of HELP info`."""
        if topic is None:
            body = [f"This is sendmail version {self.release}", "Topics:"]
            body += HELP_TOPICS
            body += [
                'For more info use "HELP <topic>".',
                "To report bugs in the implementation send email to",
                "\tsendmail-bugs@sendmail.org.",
                "For local information send email to Postmaster at your site.",
            ]
        else:
            found = HELP_TEXT.get(topic.upper())
            if found is None:
                return [f'504 5.3.0 HELP topic "{shorten(printable(topic))}" unknown']
            body = list(found)
        return [f"214-2.0.0 {line}" for line in body] + ["214 2.0.0 End of HELP info"]

    # --- AUTH and STARTTLS ----------------------------------------------------

    def auth_unavailable(self) -> str:
        return "503 5.3.3 AUTH not available"

    def auth_in_transaction(self) -> str:
        return "503 5.5.0 AUTH not permitted during a mail transaction"

    def already_authenticated(self) -> str:
        return "503 5.5.0 Already Authenticated"

    def mechanism_required(self) -> str:
        return "501 5.5.2 AUTH mechanism must be specified"

    def mechanism_unavailable(self, mechanism: str) -> str:
        name = shorten(printable(mechanism), 32)
        return f"504 5.3.3 AUTH mechanism {name} not available"

    def authenticated(self) -> str:
        return "235 2.0.0 OK Authenticated"

    def auth_failed(self) -> str:
        return "535 5.7.0 authentication failed"

    def auth_aborted(self) -> str:
        return "501 5.0.0 AUTH aborted"

    def cannot_decode(self) -> str:
        return "501 5.5.4 cannot BASE64 decode"

    def tls_ready(self) -> str:
        return "220 2.0.0 Ready to start TLS"

    def tls_no_parameters(self) -> str:
        return "501 5.5.2 Syntax error (no parameters allowed)"

    def tls_unavailable(self) -> str:
        return "454 4.3.3 TLS not available after start"

    def tls_in_transaction(self) -> str:
        return "503 5.5.0 TLS not permitted during a mail transaction"
