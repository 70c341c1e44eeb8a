"""The error type's one-line form, and "did you mean"."""

from __future__ import annotations

import pickle

import pytest

import vnet.config
from tests.config.helpers import HEADER, TEMPLATES
from vnet.config import TopologyError, suggest
from vnet.config.errors import field_name, show


def test_one_line_with_every_part():
    error = TopologyError(
        "topologies/x.yaml",
        12,
        5,
        "hosts[3].template",
        "'web-servr'",
        "a template name (base, web)",
        "did you mean 'web'?",
    )
    assert str(error) == (
        "topologies/x.yaml:12:5: hosts[3].template: found 'web-servr'; "
        "allowed: a template name (base, web); did you mean 'web'?"
    )


def test_without_hint_or_position():
    error = TopologyError("x.yaml", None, None, "document", "nothing", "a file")
    assert str(error) == "x.yaml: document: found nothing; allowed: a file"


def test_survives_pickling():
    error = TopologyError("x.yaml", 1, 2, "version", "2", "1", "a hint")
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error)
    assert (copy.line, copy.column, copy.hint) == (1, 2, "a hint")


def test_field_names():
    assert field_name(()) == "document"
    assert field_name(("hosts", 3, "template")) == "hosts[3].template"
    assert field_name(("templates", "web", "ports", "tcp/80")) == (
        "templates.web.ports.tcp/80"
    )
    assert field_name(("templates", "web.server")) == "templates['web.server']"


def test_values_are_shown_as_yaml_shows_them():
    assert show("web") == "'web'"
    assert show(True) == "true"
    assert show(None) == "null"
    assert show(80) == "80"
    assert show([]) == "an empty list"
    assert show({"a": 1, "b": 2}) == "a mapping with keys a, b"
    assert show("x" * 100) == "'" + "x" * 56 + "..."


@pytest.mark.parametrize(
    "word, expected",
    [
        ("wbe", "web"),
        ("WEB", "web"),
        ("workstaton", "workstation"),
        ("mail-server", "mailserver"),
        ("web-servr", "web"),
        ("workstation-2", "workstation"),
        ("zzz", None),
        (5, None),
    ],
)
def test_suggest_the_nearest_name(word, expected):
    assert suggest(word, ["web", "webcam", "workstation", "mailserver"]) == expected


def test_a_typo_in_a_template_name_gets_the_nearest_template_suggested():
    templates = TEMPLATES + "  webmail: {tcp: open}\n  workstation: {tcp: filtered}\n"
    text = (
        HEADER
        + templates
        + "hosts:\n  - {address: 198.51.100.10, template: wrkstation}\n"
    )
    with pytest.raises(TopologyError) as caught:
        vnet.config.loads(text, "typo.yaml")
    assert caught.value.hint == "did you mean 'workstation'?"
    assert caught.value.allowed == "a template name (base, web, webmail, workstation)"


def test_the_example_message_of_the_design():
    text = (
        HEADER
        + TEMPLATES
        + (
            "hosts:\n"
            "  - {address: 198.51.100.10, template: web}\n"
            "  - {address: 198.51.100.11, template: web}\n"
            "  - {address: 198.51.100.12, template: web}\n"
            "  - {address: 198.51.100.13,\n"
            "    template: web-servr}\n"
        )
    )
    with pytest.raises(TopologyError) as caught:
        vnet.config.loads(text, "topologies/x.yaml")
    assert str(caught.value) == (
        "topologies/x.yaml:14:15: hosts[3].template: found 'web-servr'; "
        "allowed: a template name (base, web); did you mean 'web'?"
    )


def test_a_typo_in_a_key_gets_the_nearest_key_suggested():
    text = (
        HEADER
        + TEMPLATES.replace("personality", "personalty")
        + ("hosts:\n  - {address: 198.51.100.10, template: web}\n")
    )
    with pytest.raises(TopologyError) as caught:
        vnet.config.loads(text, "typo.yaml")
    assert caught.value.field == "templates.base.personalty"
    assert caught.value.hint == "did you mean 'personality'?"
