"""The pure parts of the mail services: dialect, paths, scanner, store, ledger."""

from __future__ import annotations

import datetime
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.mail.delivery import (
    ForwardPolicy,
    Ledger,
    ProbeRules,
    has_header,
    is_reserved,
    mentions_address,
    parse_route,
)
from services.mail.dialect import SendmailDialect, queue_id, rfc5322_date
from services.mail.message import Arrival, forwarded_form, header_safe, stored_form
from services.mail.paths import (
    PathError,
    check_mail_parameters,
    check_rcpt_parameters,
    split_path,
    valid_hello,
)
from services.mail.scan import InputScanner
from services.mail.store import MaildirStore
from tests.services.test_smtp_support import messages_in

NOW = datetime.datetime(2026, 12, 3, 11, 4, 33, tzinfo=datetime.UTC).timestamp()


# --- dialect ---------------------------------------------------------------------


def test_dates_are_rfc5322_with_an_unpadded_day():
    assert rfc5322_date(NOW - 2 * 86400) == "Tue, 1 Dec 2026 11:04:33 +0000"
    assert rfc5322_date(NOW, 60) == "Thu, 3 Dec 2026 12:04:33 +0100"
    assert rfc5322_date(NOW, -330) == "Thu, 3 Dec 2026 05:34:33 -0530"


def test_queue_ids_have_sendmails_shape():
    # 2026 -> 126 % 60 = 6; December -> B; 3rd; 11 h -> B; 4 min; 33 s -> X.
    assert queue_id(NOW, 61, 15245) == "6B3B4X11015245"
    assert len({queue_id(NOW, n, 1) for n in range(100)}) == 100


def test_the_greeting_and_help_name_the_version():
    dialect = SendmailDialect("mx.example.test", "8.13.8/8.13.8")
    assert dialect.greeting(NOW) == (
        "220 mx.example.test ESMTP Sendmail 8.13.8/8.13.8; "
        "Thu, 3 Dec 2026 11:04:33 +0000"
    )
    assert dialect.help(None)[0] == "214-2.0.0 This is sendmail version 8.13.8"
    assert dialect.help("nosuch") == ['504 5.3.0 HELP topic "nosuch" unknown']


def test_echoed_text_never_carries_control_characters():
    dialect = SendmailDialect("mx.example.test")
    reply = dialect.unrecognized("A\x00B\r\x1b" + "x" * 300)
    assert reply.startswith('500 5.5.1 Command unrecognized: "A^@B^M^[x')
    assert reply.endswith('..."') and len(reply) < 260
    assert all(32 <= ord(c) < 127 for c in reply)


# --- paths -----------------------------------------------------------------------


def test_paths_are_cut_as_written():
    path = split_path(" FROM: <a@b.example> SIZE=10 BODY=8BITMIME", "FROM")
    assert path.written == "<a@b.example>"
    assert path.parameters == {"SIZE": "10", "BODY": "8BITMIME"}
    assert split_path("from:a@b.example", "FROM").written == "a@b.example"
    assert split_path("TO:<>", "TO").is_null


@pytest.mark.parametrize(
    ("argument", "kind"),
    [
        (None, "syntax"),
        ("FROM a@b", "syntax"),
        ("TO:<a@b", "unbalanced"),
        ("FROM:<a@b> SIZE=1 SIZE=2", "duplicate"),
    ],
)
def test_broken_paths_name_what_is_wrong(argument, kind):
    with pytest.raises(PathError) as caught:
        split_path(argument, "FROM" if "TO" not in (argument or "") else "TO")
    assert caught.value.kind == kind


def test_parameters_are_checked_as_rfc_1870_and_3461_say():
    assert (
        check_mail_parameters({"SIZE": "100", "RET": "HDRS", "AUTH": "<>"}, 1000) == 100
    )
    for bad, kind in [
        ({"SIZE": "lots"}, "bad-argument"),
        ({"SIZE": "2000"}, "too-big"),
        ({"BODY": "BINARYMIME"}, "bad-argument"),
        ({"ENVID": "a=b"}, "bad-argument"),
        ({"SMTPUTF8": None}, "unknown-parameter"),
    ]:
        with pytest.raises(PathError) as caught:
            check_mail_parameters(bad, 1000)
        assert caught.value.kind == kind
    check_rcpt_parameters({"NOTIFY": "NEVER", "ORCPT": "rfc822;a@b"})
    with pytest.raises(PathError):
        check_rcpt_parameters({"NOTIFY": "NEVER,SUCCESS"})


def test_hello_names_follow_sendmails_character_set():
    assert valid_hello("mail.example.test")
    assert valid_hello("[198.51.100.7]")
    assert valid_hello("host_1.example ")
    assert not valid_hello("two words")
    assert not valid_hello("bad/name")


# --- the input scanner -------------------------------------------------------------


def scan(chunks: list[bytes]) -> list[tuple[str, bytes]]:
    scanner = InputScanner()
    found = []
    for chunk in chunks:
        found += [(f.kind, f.sequence) for f in scanner.feed(chunk)]
    found += [(f.kind, f.sequence) for f in scanner.finish()]
    return found


def test_smuggling_sequences_are_found_once_wherever_the_reads_split():
    stream = b"DATA\r\nhello\r\nworld\n.\nMAIL FROM:<x@y>\r\n.\r\n"
    for split in range(len(stream) + 1):
        found = scan([stream[:split], stream[split:]])
        smuggling = [s for k, s in found if k == "smuggling"]
        assert smuggling == [b"\n.\n"], split


@given(st.lists(st.sampled_from([b"line", b"..dot", b"", b"x" * 20]), max_size=20))
def test_a_proper_message_is_never_taken_for_smuggling(lines):
    stream = b"".join(line + b"\r\n" for line in lines) + b".\r\nQUIT\r\n"
    for split in range(0, len(stream) + 1, 3):
        assert scan([stream[:split], stream[split:]]) == []


def test_bare_lf_and_nul_are_noticed_once():
    found = scan([b"EHLO a\r", b"\nMAIL\0x\n", b"more\n\0"])
    assert found == [("nul", b"\0"), ("bare-lf", b"\n")]


# --- what is stored ----------------------------------------------------------------


def arrival(**changes) -> Arrival:
    fields = dict(
        queue_id="6B3B4X11015245",
        sender="a@spammer.example",
        recipients=["v@example.test"],
        content=b"Subject: hi\r\n\r\nbody\r\n",
        peer=("198.51.100.7", 40000),
        source=("198.51.100.7", 40000),
        helo="spammer.example",
        esmtp=True,
        connection="0001-000001",
        host_name="mx.example.test",
        host_address="198.51.100.30",
        version="8.14.4/8.14.4",
        now=NOW,
    )
    fields.update(changes)
    return Arrival(**fields)


def test_a_hostile_helo_cannot_add_header_lines():
    data = stored_form(arrival(helo="evil\r\nX-Injected: yes"))
    assert b"\r\nX-Injected" not in data
    assert b"X-Vnet-Helo: evil\\x0d\\x0aX-Injected: yes\r\n" in data
    assert header_safe("caf\u00e9") == "caf\\xe9"


def test_the_forwarded_form_carries_only_sendmails_received_line():
    data = forwarded_form(arrival())
    assert data == (
        b"Received: from spammer.example ([198.51.100.7])\r\n"
        b"\tby mx.example.test (8.14.4/8.14.4) with ESMTP id 6B3B4X11015245\r\n"
        b"\tfor <v@example.test>; Thu, 3 Dec 2026 11:04:33 +0000\r\n"
        b"Subject: hi\r\n\r\nbody\r\n"
    )


def test_the_maildir_gets_whole_messages_in_new_and_nothing_left_in_tmp(tmp_path):
    store = MaildirStore(str(tmp_path / "deep" / "box"))
    first = store.deliver(b"one\r\n", NOW)
    second = store.deliver(b"two\r\n", NOW)
    store.close()
    assert first.path != second.path and first.size == 5
    assert os.path.dirname(first.path) == str(tmp_path / "deep" / "box" / "new")
    assert sorted(messages_in(tmp_path / "deep" / "box")) == [b"one\r\n", b"two\r\n"]
    assert os.listdir(tmp_path / "deep" / "box" / "tmp") == []
    assert oct(os.stat(first.path).st_mode & 0o777) == "0o600"


# --- probes and the ledger -----------------------------------------------------------


def test_the_relays_address_is_found_dotted_or_in_hex():
    assert mentions_address(b"relay 198.51.100.25 ok", "198.51.100.25")
    assert mentions_address(b"id=c6336419;", "198.51.100.25")
    assert not mentions_address(b"relay 198.51.100.250 ok", "198.51.100.25")
    assert not mentions_address(b"x1198.51.100.25", "198.51.100.25")
    assert not mentions_address(b"0c6336419a", "198.51.100.25")


def test_probe_headers_are_found_in_the_header_block_only():
    assert has_header(b"X-Proxy-Spec: 1.2.3.4\r\n\r\nbody", ["x-proxy-spec"])
    assert not has_header(b"Subject: a\r\n\r\nX-Proxy-Spec: no", ["X-Proxy-Spec"])


def test_drop_box_rule_counts_distinct_sources(tmp_path):
    ledger = Ledger()
    rules = ProbeRules(first_per_source=False, drop_box_sources=2)
    for source in ("192.0.2.1", "192.0.2.2"):
        ledger.note_message(source, ["box@drop.example"], NOW, drop_boxes=True)
    assert rules.reasons(
        "192.0.2.3", b"", ["box@drop.example"], "192.0.2.9", ledger
    ) == ["drop-box"]
    assert (
        rules.reasons("192.0.2.3", b"", ["other@drop.example"], "192.0.2.9", ledger)
        == []
    )


def test_the_ledger_survives_a_restart_and_a_torn_last_line(tmp_path):
    path = str(tmp_path / "ledger.jsonl")
    ledger = Ledger(path)
    ledger.note_message("192.0.2.1", [], NOW, drop_boxes=False)
    ledger.note_forward(NOW)
    ledger.close()
    with open(path, "a") as damaged:
        damaged.write('{"kind": "forw')

    again = Ledger(path)
    assert again.has_source("192.0.2.1") and not again.has_source("192.0.2.2")
    assert again.forwards_on(NOW) == 1 and again.forwards_on(NOW + 86400) == 0
    again.close()


def test_forward_policy_groups_by_domain_and_keeps_to_routes():
    policy = ForwardPolicy(routes={"drop.example": parse_route("127.0.0.1:2525")})
    decisions = policy.decide(
        ["a@drop.example", "b@drop.example", "c@x.example"], Ledger(), NOW
    )
    assert [(d.forward, d.reason, d.recipients) for d in decisions] == [
        (True, "probe", ("a@drop.example", "b@drop.example")),
        (False, "reserved-domain", ("c@x.example",)),
    ]
    assert str(decisions[0].route) == "127.0.0.1:2525"
    many = ForwardPolicy(max_recipients=2).decide(["a@b", "c@d", "e@f"], Ledger(), NOW)
    assert [d.reason for d in many] == ["too-many-recipients"]


def test_reserved_names_are_the_special_use_ones():
    assert is_reserved("example.test") and is_reserved("mx.EXAMPLE.com.")
    assert is_reserved("localhost") and is_reserved("")
    assert not is_reserved("spammer.net")
