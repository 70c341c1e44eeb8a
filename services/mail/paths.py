"""Reading the arguments of MAIL, RCPT and HELO as sendmail reads them.

RFC 5321 section 4.1.2 gives the path syntax, section 4.1.1.1 the HELO
argument; RFC 1870 (SIZE), RFC 6152 (BODY) and RFC 3461 (RET, ENVID,
NOTIFY, ORCPT) the parameters, and RFC 4954 section 5 the AUTH parameter of
MAIL. Addresses themselves are checked by aiosmtpd's parser; this module
only cuts the line into the path as the client wrote it (sendmail echoes
it back: `<a@b>... Sender ok`) and its parameters, and checks parameter
values. It is pure: every problem comes back as a `PathError` naming what
sendmail would say, and the caller words it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# sendmail accepts these characters in a HELO name (and nothing after a
# space), which is laxer than RFC 5321's domain syntax, as clients expect.
_HELLO_NAME = re.compile(r"[A-Za-z0-9\[\].\-_#:]+\s*")
# RFC 3461 section 4: xtext is printable ASCII without "+" and "=", or
# "+HH" for anything else.
_XTEXT = re.compile(r"(?:[!-*,-<>-~]|\+[0-9A-F]{2})*")
_NOTIFY_WORDS = {"SUCCESS", "FAILURE", "DELAY"}

MAIL_KEYWORDS = ("SIZE", "BODY", "RET", "ENVID", "AUTH")
RCPT_KEYWORDS = ("NOTIFY", "ORCPT")


class PathError(ValueError):
    """What is wrong with a MAIL or RCPT argument, in sendmail's terms.

    `kind` is one of: syntax, unbalanced, address, null, unknown-parameter,
    bad-argument, duplicate; `text` is what the reply quotes.
    """

    def __init__(self, kind: str, text: str, keyword: str = "") -> None:
        super().__init__(f"{kind}: {text}")
        self.kind = kind
        self.text = text
        self.keyword = keyword


@dataclass(frozen=True)
class Path:
    """A path as written (`written`, echoed back) and its parameters."""

    written: str
    parameters: dict[str, str | None]

    @property
    def is_null(self) -> bool:
        return self.written.replace(" ", "") == "<>"


def valid_hello(name: str) -> bool:
    return _HELLO_NAME.fullmatch(name) is not None


def split_path(argument: str | None, keyword: str) -> Path:
    """`FROM:<a@b> SIZE=10` -> Path("<a@b>", {"SIZE": "10"})."""
    text = (argument or "").lstrip()
    if text[: len(keyword)].upper() != keyword:
        raise PathError("syntax", argument or "")
    rest = text[len(keyword) :].lstrip()
    if not rest.startswith(":"):
        raise PathError("syntax", argument or "")
    rest = rest[1:].strip()
    if not rest:
        raise PathError("syntax", argument or "")

    if rest.startswith("<"):
        end = rest.find(">")
        if end < 0:
            raise PathError("unbalanced", rest)
        written, tail = rest[: end + 1], rest[end + 1 :]
    else:
        written, _, tail = rest.partition(" ")
    return Path(written, parse_parameters(tail.split()))


def parse_parameters(words: list[str]) -> dict[str, str | None]:
    parameters: dict[str, str | None] = {}
    for word in words:
        name, equals, value = word.partition("=")
        name = name.upper()
        if name in parameters:
            raise PathError("duplicate", name, name)
        parameters[name] = value if equals else None
    return parameters


def check_mail_parameters(
    parameters: dict[str, str | None], size_limit: int
) -> int | None:
    """Check MAIL's parameters; return the declared SIZE, if any."""
    declared = None
    for name, value in parameters.items():
        if name not in MAIL_KEYWORDS:
            raise PathError("unknown-parameter", name, name)
        if name == "SIZE":
            if value is None or not value.isdigit():
                raise PathError("bad-argument", value or "", name)
            declared = int(value)
            if size_limit and declared > size_limit:
                raise PathError("too-big", value, name)
        elif not _value_ok(name, value):
            raise PathError("bad-argument", value or "", name)
    return declared


def check_rcpt_parameters(parameters: dict[str, str | None]) -> None:
    for name, value in parameters.items():
        if name not in RCPT_KEYWORDS:
            raise PathError("unknown-parameter", name, name)
        if name == "NOTIFY" and not _is_notify(value):
            raise PathError("bad-argument", value or "", name)
        if name == "ORCPT" and (value is None or ";" not in value):
            raise PathError("bad-argument", value or "", name)


def _value_ok(name: str, value: str | None) -> bool:
    """BODY, RET, ENVID and AUTH values (RFC 6152, RFC 3461, RFC 4954)."""
    if name == "BODY":
        return (value or "").upper() in ("7BIT", "8BITMIME")
    if name == "RET":
        return (value or "").upper() in ("FULL", "HDRS")
    return _is_xtext(value)


def _is_xtext(value: str | None) -> bool:
    return value is not None and _XTEXT.fullmatch(value) is not None


def _is_notify(value: str | None) -> bool:
    if not value:
        return False
    words = value.upper().split(",")
    if words == ["NEVER"]:
        return True
    return all(word in _NOTIFY_WORDS for word in words)
