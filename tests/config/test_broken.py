"""Broken topology files: each names the right line, column, field and hint.

Every case is a whole file. Line numbers count from the top of the file;
`topology()` puts the two header lines (version, attach) first, so a case
body starts at line 3.
"""

from __future__ import annotations

import pytest

import vnet.config
from tests.config.helpers import HEADER, TEMPLATES, VALID, topology
from vnet.config import TopologyError

WEB_HOST = "hosts:\n  - {address: 198.51.100.10, template: web}\n"


def case(text, where, field, found, hint=None, allowed=None, *, id):
    return pytest.param(text, where, field, found, hint, allowed, id=id)


CASES = [
    # YAML itself
    case(
        topology("""\
            hosts:
              - {address: [198.51.100.10
            """),
        "5:1",
        "document",
        "bad YAML*",
        id="bad-yaml",
    ),
    case(
        HEADER + "templates:\n\tbase: {tcp: open}\n" + WEB_HOST,
        "4:1",
        "document",
        "bad YAML*",
        allowed="well-formed YAML",
        id="tab-indentation",
    ),
    case(
        topology("""\
            hosts:
              - address: 198.51.100.10
                template: web
                template: base
            """)
        + TEMPLATES,
        "6:5",
        "hosts[0].template",
        "the key 'template' a second time",
        "it is first set at line 5",
        id="duplicate-key",
    ),
    case("", "1:1", "document", "an empty file", id="empty-file"),
    case(
        "- version: 1\n",
        "1:1",
        "document",
        "a list of 1 item",
        allowed="a mapping with version, attach, templates and hosts",
        id="not-a-mapping",
    ),
    case(
        HEADER + "<<: {version: 1}\n" + TEMPLATES + WEB_HOST,
        "3:1",
        "document",
        "a YAML merge key '<<'",
        "use 'inherits' between templates instead of YAML merges",
        id="merge-key",
    ),
    case(
        topology("""\
            hosts:
              - {address: !!python/name:os.system 198.51.100.10}
            """),
        "4:15",
        "hosts[0].address",
        "'198.51.100.10' tagged !!python/name:os.system",
        id="foreign-tag",
    ),
    case(
        topology("""\
            hosts: &loop
              - *loop
            """),
        "3:8",
        "hosts[0]",
        "an alias to itself",
        id="recursive-alias",
    ),
    case(
        topology("""\
            hosts:
              - {[198.51.100.10]: web}
            """),
        "4:6",
        "hosts[0]",
        "a list or mapping used as a key",
        id="list-as-key",
    ),
    case(
        HEADER + TEMPLATES + WEB_HOST + "---\nversion: 1\n",
        "11:1",
        "document",
        "bad YAML*",
        "keep one document per file (no second '---')",
        id="two-documents",
    ),
    case(
        VALID + "\x00",
        "11:1",
        "document",
        "the character '\\x00'",
        id="nul-character",
    ),
    case(
        "version: 1\nhosts: " + "[" * 70 + "]" * 70 + "\n",
        "2:71",
        "document",
        "values nested more than 64 deep",
        id="too-deep",
    ),
    # shape, from the schema
    case(
        VALID.replace("tap: vnet0", 'tap: "vnet0\\n"'),
        "2:15",
        "attach.tap",
        "'vnet0\\n'",
        id="trailing-newline-in-a-name",
    ),
    case(
        HEADER + TEMPLATES + "hsots:\n  - {address: 198.51.100.10}\n",
        "9:1",
        "hsots",
        "the unknown key 'hsots'",
        "did you mean 'hosts'?",
        id="unknown-top-level-key",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {adress: 198.51.100.10, template: web}\n",
        "10:6",
        "hosts[0].adress",
        "the unknown key 'adress'",
        "did you mean 'address'?",
        id="unknown-host-key",
    ),
    case(
        "version: 1\nattach: {tap: vnet0}\n" + TEMPLATES + WEB_HOST,
        "2:9",
        "attach.host_address",
        "nothing",
        allowed="an IPv4 address with a prefix length, such as 192.0.2.254/24",
        id="missing-required-key",
    ),
    case(
        "version: 2\n" + VALID.split("\n", 1)[1],
        "1:10",
        "version",
        "2",
        allowed="1",
        id="unknown-version",
    ),
    case(
        HEADER + TEMPLATES + "hosts: []\n",
        "9:8",
        "hosts",
        "an empty list",
        id="no-hosts",
    ),
    case(
        "version: 1\n"
        "attach: {tap: vnet0-with-a-long-name, host_address: 192.0.2.254/24}\n"
        + TEMPLATES
        + WEB_HOST,
        "2:15",
        "attach.tap",
        "'vnet0-with-a-long-name'",
        allowed="an interface name of 1 to 15 letters, digits, '-', '_' or '.'",
        id="bad-tap-name",
    ),
    case(
        HEADER + TEMPLATES + WEB_HOST.replace("web}", "web, name: www_1.example.test}"),
        "10:51",
        "hosts[0].name",
        "'www_1.example.test'",
        allowed="a DNS name such as www.example.test",
        id="bad-host-name",
    ),
    case(
        VALID + "trap_domains: [example.test, mail.example.test, example.test]\n",
        "11:49",
        "trap_domains[2]",
        "'example.test'",
        "it is already item 0, at line 11",
        id="repeated-trap-domain",
    ),
    # addresses
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.10/24, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'198.51.100.10/24', which has host bits set",
        "did you mean '198.51.100.0/24'?",
        id="cidr-host-bits",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.0/33, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'198.51.100.0/33'",
        allowed="a prefix length from 8 to 32",
        id="cidr-prefix-too-long",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.0/4, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'198.51.100.0/4', 268,435,456 addresses",
        allowed="at most 16,777,216 addresses (a /8) in one entry",
        id="cidr-larger-than-allowed",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.0/24x, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'198.51.100.0/24x'",
        allowed="an IPv4 address, a range A-B or a CIDR block A/N",
        id="address-shape",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.300, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'198.51.100.300', whose octet 300 is above 255",
        id="octet-above-255",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.010, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'198.51.100.010', whose octet 010 has a leading zero",
        "leading zeros are read as octal by some tools; drop them",
        id="octet-leading-zero",
    ),
    case(
        HEADER
        + TEMPLATES
        + "hosts:\n  - {address: 203.0.113.40-203.0.113.10, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'203.0.113.40-203.0.113.10', which ends before it starts",
        "did you mean '203.0.113.10-203.0.113.40'?",
        id="range-backwards",
    ),
    case(
        HEADER
        + TEMPLATES
        + "hosts:\n  - {address: 192.0.2.1-203.0.113.1, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'192.0.2.1-203.0.113.1', 184,577,793 addresses",
        allowed="at most 16,777,216 addresses (a /8) in one entry",
        id="range-larger-than-allowed",
    ),
    case(
        "version: 1\nattach: {host_address: 192.0.2.254/25}\n"
        + TEMPLATES
        + "hosts:\n  - {address: 192.0.2.100-192.0.2.200, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'192.0.2.100-192.0.2.200', which runs past the attach network 192.0.2.128/25",
        "split the entry at the network's edge",
        id="range-larger-than-its-network",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 192.0.2.0/24, template: web}\n",
        "10:15",
        "hosts[0].address",
        "'192.0.2.0/24', which includes the attach host address 192.0.2.254",
        "attach.host_address is at line 2",
        id="host-covers-attach-address",
    ),
    case(
        topology("""\
            hosts:
              - {address: 198.51.100.0/24, template: web}
              - {address: 203.0.113.10, template: web}
              - {address: 198.51.100.20-198.51.100.30, template: web}
            """)
        + TEMPLATES,
        "6:15",
        "hosts[2].address",
        "'198.51.100.20-198.51.100.30', which overlaps hosts[0] "
        "('198.51.100.0/24', line 4)",
        id="overlapping-hosts",
    ),
    case(
        "version: 1\nattach: {host_address: 192.0.2.254/31}\n" + TEMPLATES + WEB_HOST,
        "2:24",
        "attach.host_address",
        "'192.0.2.254/31'",
        allowed="a prefix length from 8 to 30",
        id="attach-prefix",
    ),
    case(
        "version: 1\nattach: {host_address: 192.0.2.0/24}\n" + TEMPLATES + WEB_HOST,
        "2:24",
        "attach.host_address",
        "'192.0.2.0/24', the network address of its network",
        allowed="an address inside the network, such as 192.0.2.254/24",
        id="attach-network-address",
    ),
    # templates
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.10, template: wbe}\n",
        "10:40",
        "hosts[0].template",
        "'wbe'",
        "did you mean 'web'?",
        allowed="a template name (base, web)",
        id="unknown-template",
    ),
    case(
        HEADER + TEMPLATES.replace("inherits: base", "inherits: bsae") + WEB_HOST,
        "6:15",
        "templates.web.inherits",
        "'bsae'",
        "did you mean 'base'?",
        id="unknown-parent-template",
    ),
    case(
        topology("""\
            templates:
              a: {inherits: c}
              b: {inherits: a}
              c: {inherits: b}
            """)
        + "hosts:\n  - {address: 198.51.100.10, template: a}\n",
        "4:17",
        "templates.a.inherits",
        "a cycle of templates: a -> c -> b -> a",
        allowed="a chain of inherits that ends at a template without inherits",
        id="template-cycle",
    ),
    case(
        HEADER + TEMPLATES.replace("inherits: base", "inherits: web") + WEB_HOST,
        "6:15",
        "templates.web.inherits",
        "a cycle of templates: web -> web",
        id="template-inherits-itself",
    ),
    case(
        HEADER + TEMPLATES + "hosts:\n  - {address: 198.51.100.10}\n",
        "10:5",
        "hosts[0].template",
        "nothing",
        "name a template here, or set defaults.template",
        id="no-template-no-default",
    ),
    case(
        HEADER + "defaults: {template: workstaton}\n" + TEMPLATES + WEB_HOST,
        "3:22",
        "defaults.template",
        "'workstaton'",
        None,
        allowed="a template name (base, web)",
        id="unknown-default-template",
    ),
    # ports
    case(
        HEADER + TEMPLATES.replace("tcp/80", "tcp/0") + WEB_HOST,
        "8:7",
        "templates.web.ports.tcp/0",
        "'tcp/0'",
        "port 0 is reserved",
        allowed="tcp/N or udp/N with N from 1 to 65535",
        id="port-zero",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp/80", "tcp/65536") + WEB_HOST,
        "8:7",
        "templates.web.ports.tcp/65536",
        "'tcp/65536'",
        id="port-too-large",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp/80", "sctp/80") + WEB_HOST,
        "8:7",
        "templates.web.ports.sctp/80",
        "'sctp/80'",
        allowed="tcp/N or udp/N with N from 1 to 65535",
        id="port-bad-protocol",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp/80", "TCP/80") + WEB_HOST,
        "8:7",
        "templates.web.ports.TCP/80",
        "'TCP/80'",
        "did you mean 'tcp/80'?",
        id="port-upper-case",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp/80", "80") + WEB_HOST,
        "8:7",
        "templates.web.ports.80",
        "'80'",
        "write 'tcp/80' or 'udp/80'",
        id="port-without-protocol",
    ),
    case(
        HEADER + TEMPLATES.replace("{service: web-maze}", "opne") + WEB_HOST,
        "8:15",
        "templates.web.ports.tcp/80",
        "'opne'",
        "did you mean 'open'?",
        allowed="open, closed or filtered",
        id="unknown-port-policy",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp: closed", "tcp: Closed") + WEB_HOST,
        "4:51",
        "templates.base.tcp",
        "'Closed'",
        "did you mean 'closed'?",
        id="unknown-template-policy",
    ),
    case(
        HEADER
        + TEMPLATES.replace("{service: web-maze}", "{service: web-maze, policy: open}")
        + WEB_HOST,
        "8:35",
        "templates.web.ports.tcp/80.policy",
        "both service and policy",
        "a port with a service is open; remove policy",
        id="port-service-and-policy",
    ),
    case(
        HEADER
        + TEMPLATES.replace(
            "{service: web-maze}", "{service: web-maze, options: [2, 20]}"
        )
        + WEB_HOST,
        "8:44",
        "templates.web.ports.tcp/80.options",
        "a list of 2 items",
        allowed="a mapping of the service's options",
        id="options-not-a-mapping",
    ),
    case(
        HEADER
        + TEMPLATES.replace("{service: web-maze}", "{policy: open, options: {a: 1}}")
        + WEB_HOST,
        "8:30",
        "templates.web.ports.tcp/80.options",
        "options without a service",
        id="options-without-service",
    ),
    case(
        HEADER + TEMPLATES.replace("{service: web-maze}", "{}") + WEB_HOST,
        "8:15",
        "templates.web.ports.tcp/80",
        "an empty mapping",
        id="port-mapping-empty",
    ),
    case(
        HEADER + TEMPLATES.replace("{service: web-maze}", "{service: 8080}") + WEB_HOST,
        "8:25",
        "templates.web.ports.tcp/80.service",
        "8080",
        allowed="a service name, or a mapping {command: [PROGRAM, ARG...]}",
        id="service-not-a-name",
    ),
    case(
        HEADER
        + TEMPLATES.replace("{service: web-maze}", "{service: {command: []}}")
        + WEB_HOST,
        "8:35",
        "templates.web.ports.tcp/80.service.command",
        "an empty list",
        id="service-command-empty",
    ),
    # MAC addresses, names, uptime
    case(
        HEADER + TEMPLATES + WEB_HOST.replace("web}", "web, mac: '02:00:5e:10:00'}"),
        "10:50",
        "hosts[0].mac",
        "'02:00:5e:10:00'",
        allowed="a unicast MAC address such as 02:00:5e:10:00:01",
        id="mac-shape",
    ),
    case(
        HEADER + TEMPLATES + WEB_HOST.replace("web}", "web, mac: '01:00:5e:10:00:01'}"),
        "10:50",
        "hosts[0].mac",
        "'01:00:5e:10:00:01', a multicast MAC (first octet odd)",
        "did you mean '00:00:5e:10:00:01'?",
        id="mac-multicast",
    ),
    case(
        HEADER + TEMPLATES + WEB_HOST.replace("web}", "web, mac: '00-00-00-00-00-00'}"),
        "10:50",
        "hosts[0].mac",
        "'00-00-00-00-00-00'",
        allowed="a MAC that is not all zeros",
        id="mac-all-zeros",
    ),
    case(
        HEADER
        + TEMPLATES
        + "hosts:\n"
        + "  - {address: 198.51.100.0/28, template: web, mac: '02:00:5e:10:00:01'}\n",
        "10:52",
        "hosts[0].mac",
        "'02:00:5e:10:00:01'",
        "this entry covers 14 addresses",
        id="mac-on-a-range",
    ),
    case(
        HEADER
        + TEMPLATES
        + "hosts:\n"
        + "  - {address: 198.51.100.0/24, template: web, name: www.example.test}\n",
        "10:53",
        "hosts[0].name",
        "'www.example.test'",
        "this entry covers 254 addresses",
        id="name-on-a-range",
    ),
    case(
        topology("""\
            hosts:
              - {address: 198.51.100.10, name: www.example.test}
              - {address: 198.51.100.11, name: WWW.example.test}
            defaults: {template: web}
            """)
        + TEMPLATES,
        "5:36",
        "hosts[1].name",
        "'WWW.example.test'",
        "hosts[0] has it, at line 4",
        id="duplicate-host-name",
    ),
    case(
        topology("""\
            hosts:
              - {address: 198.51.100.10, mac: "02:00:5e:10:00:01"}
              - {address: 198.51.100.11, mac: "02-00-5E-10-00-01"}
            defaults: {template: web}
            """)
        + TEMPLATES,
        "5:35",
        "hosts[1].mac",
        "'02-00-5E-10-00-01'",
        "hosts[0] has it, at line 4",
        id="duplicate-mac",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp: closed", "uptime: 12x") + WEB_HOST,
        "4:54",
        "templates.base.uptime",
        "'12x'",
        allowed="seconds, or a duration such as 3d, 12h, 90m or 1d12h",
        id="uptime-bad-unit",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp: closed", "uptime: -5") + WEB_HOST,
        "4:54",
        "templates.base.uptime",
        "-5",
        allowed="seconds, or a duration such as 3d, 12h, 90m or 1d12h",
        id="uptime-negative",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp: closed", "uptime: 3651d") + WEB_HOST,
        "4:54",
        "templates.base.uptime",
        "'3651d'",
        allowed="from 0 seconds to 3650 days",
        id="uptime-too-long",
    ),
    case(
        HEADER + TEMPLATES.replace("tcp: closed", "uptime: .nan") + WEB_HOST,
        "4:54",
        "templates.base.uptime",
        "nan",
        id="uptime-not-a-number",
    ),
    case(
        HEADER + TEMPLATES + WEB_HOST.replace("web}", "web, uptime: !!int 3d}"),
        "10:53",
        "hosts[0].uptime",
        "'3d' tagged !!int",
        id="tag-that-does-not-fit",
    ),
]


@pytest.mark.parametrize("text, where, field, found, hint, allowed", CASES)
def test_broken_file(text, where, field, found, hint, allowed):
    with pytest.raises(TopologyError) as caught:
        vnet.config.loads(text, "broken.yaml")
    error = caught.value

    assert f"{error.line}:{error.column}" == where, str(error)
    assert error.path == "broken.yaml"
    assert error.field == field
    if found.endswith("*"):
        assert error.found.startswith(found[:-1])
    else:
        assert error.found == found
    assert error.hint == hint
    if allowed is not None:
        assert error.allowed == allowed
    assert str(error).startswith(f"broken.yaml:{where}: {field}: found ")
    assert "\n" not in str(error)


def test_there_are_many_kinds_of_broken_file():
    assert len(CASES) >= 20
    assert len({param.id for param in CASES}) == len(CASES)


def test_non_unicast_addresses_are_refused(monkeypatch):
    # Shipped tests name documentation addresses only, so treat one of those
    # blocks as not unicast to prove the check fires where it should.
    import vnet.config.checks as checks

    blocks = (*checks._NOT_UNICAST, ("203.0.113.0/24", "test"))
    monkeypatch.setattr(checks, "_NOT_UNICAST", blocks)
    text = VALID + "  - {address: 203.0.113.250-203.0.113.255, template: web}\n"

    with pytest.raises(TopologyError) as caught:
        vnet.config.loads(text, "broken.yaml")
    assert (caught.value.line, caught.value.column) == (11, 15)
    assert caught.value.found == (
        "'203.0.113.250-203.0.113.255', which includes test addresses (203.0.113.0/24)"
    )


def test_the_error_of_the_file_reported_first_is_the_first_in_the_file():
    # Three schema errors; the one on the earliest line wins.
    text = (
        HEADER
        + TEMPLATES.replace("tcp: closed", "tcp: shut")
        + ("hosts:\n  - {address: nowhere, template: 5}\n")
    )
    with pytest.raises(TopologyError) as caught:
        vnet.config.loads(text, "broken.yaml")
    assert caught.value.field == "templates.base.tcp"


def test_a_file_that_cannot_be_read(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(TopologyError) as caught:
        vnet.config.load(missing)
    assert caught.value.path == str(missing)
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{missing}: document: found a file that")


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(VALID.encode() + b"# caf\xe9\n")
    with pytest.raises(TopologyError) as caught:
        vnet.config.load(path)
    assert (caught.value.line, caught.value.column) == (11, 6)
    assert caught.value.found == "the byte 0xe9, which is not UTF-8"


def test_aliases_that_expand_enormously():
    lines = [HEADER + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):
        lines.append(
            f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]"
        )
    with pytest.raises(TopologyError) as caught:
        vnet.config.loads("\n".join(lines) + "\n", "laughs.yaml")
    assert caught.value.found == "aliases that expand to over 100,000 values"
    assert caught.value.line == 3
