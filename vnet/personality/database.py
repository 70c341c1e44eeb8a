"""Reading nmap's second-generation OS fingerprint database, nmap-os-db.

The file is a list of records separated by blank lines, with `#` comments.
The first record, `MatchPoints`, says what each attribute is worth when
fingerprints are compared; every other starts with `Fingerprint NAME`,
then `Class VENDOR | FAMILY | GENERATION | DEVICE TYPE` lines, each
followed by its `CPE` lines, then one line per test:

    SEQ(SP=0-5%GCD=51E80C|A3D018%ISR=C8-D2%TI=I|RD%CI=I%II=RI%SS=S%TS=U)

Each test holds `ATTRIBUTE=EXPRESSION` pairs (see `expression`). This reader
follows the layout that nmap 7.93's own parser accepts, and refuses anything
else with the file and line, rather than skip it: a personality built from a
half-read record would answer unlike the system it names.

Names are not unique (hundreds repeat) and many are a prefix of another, so a
fingerprint is selected by its exact name, by the name and its 1-based index
among the records of that name, or by a CPE; never by a substring. Substring
matching is kept for `search`, which only lists.

Parsing the whole installed file takes a fraction of a second; the result is
kept per path, and read again only when the file changes.
"""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import NamedTuple

from vnet.personality.errors import DatabaseError, SelectionError
from vnet.personality.expression import is_well_formed

DEFAULT_PATH = "/usr/share/nmap/nmap-os-db"

# Only ranges and comparisons can be malformed; most values have neither.
_HAS_BOUNDS = re.compile(r"[-<>]")

# Tests and their attributes, in the order nmap prints them. R (responded)
# is allowed everywhere: the database writes SEQ(R=N) for hosts that never
# answered the sequence probes.
TEST_ATTRIBUTES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "SEQ": ("R", "SP", "GCD", "ISR", "TI", "CI", "II", "SS", "TS"),
        "OPS": ("R", "O1", "O2", "O3", "O4", "O5", "O6"),
        "WIN": ("R", "W1", "W2", "W3", "W4", "W5", "W6"),
        "ECN": ("R", "DF", "T", "TG", "W", "O", "CC", "Q"),
        "T1": ("R", "DF", "T", "TG", "S", "A", "F", "RD", "Q"),
        **{
            f"T{number}": ("R", "DF", "T", "TG", "W", "S", "A", "F", "O", "RD", "Q")
            for number in range(2, 8)
        },
        "U1": (
            "R",
            "DF",
            "T",
            "TG",
            "IPL",
            "UN",
            "RIPL",
            "RID",
            "RIPCK",
            "RUCK",
            "RUD",
        ),
        "IE": ("R", "DFI", "T", "TG", "CD"),
    }
)

Test = Mapping[str, str]
"""One test's attributes: name to expression (or to value, when observed)."""

Tests = Mapping[str, Test]


class OsClass(NamedTuple):
    """One `Class` line and the `CPE` names that follow it."""

    vendor: str
    family: str
    generation: str | None
    device_type: str
    cpes: tuple[str, ...]


class Fingerprint(NamedTuple):
    """One record of the database.

    `index` is the 1-based position among the records with the same name,
    `position` the 0-based position in the file, `line` the line of its
    `Fingerprint` header.
    """

    name: str
    # The brief's word, though it hides tuple.index, which no caller needs.
    index: int  # type: ignore[assignment]
    position: int
    line: int
    classes: tuple[OsClass, ...]
    tests: Tests

    @property
    def cpes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for os_class in self.classes:
            seen.update(dict.fromkeys(os_class.cpes))
        return tuple(seen)

    def selector(self, database: Database) -> str:
        """The shortest text that `Database.lookup` maps back to this record."""
        if database.count(self.name) == 1:
            return self.name
        return f"{self.name}#{self.index}"


MatchPoints = Mapping[str, Mapping[str, int]]
"""Test name to attribute name to the points a match of it is worth."""


class Database(NamedTuple):
    """The parsed database: the match points and the fingerprints in order."""

    path: str
    match_points: MatchPoints
    fingerprints: tuple[Fingerprint, ...]
    by_name: Mapping[str, tuple[Fingerprint, ...]]
    by_cpe: Mapping[str, tuple[Fingerprint, ...]]

    def __len__(self) -> int:
        return len(self.fingerprints)

    def __iter__(self) -> Iterator[Fingerprint]:  # type: ignore[override]
        return iter(self.fingerprints)

    def count(self, name: str) -> int:
        return len(self.by_name.get(name, ()))

    def select(self, name: str, index: int | None = None) -> Fingerprint:
        """The fingerprint with exactly this name (and index, if repeated)."""
        records = self.by_name.get(name)
        if records is None:
            raise SelectionError(
                f"no fingerprint is named {name!r} in {self.path}",
                self._closest(name),
            )
        return _pick(records, index, f"name {name!r}", self)

    def select_cpe(self, cpe: str, index: int | None = None) -> Fingerprint:
        """The fingerprint carrying this CPE (and index, if several do)."""
        records = self.by_cpe.get(cpe)
        if records is None:
            close = difflib.get_close_matches(cpe, self.by_cpe, n=5, cutoff=0.8)
            raise SelectionError(f"no fingerprint has CPE {cpe!r}", close)
        return _pick(records, index, f"CPE {cpe!r}", self)

    def lookup(self, text: str) -> Fingerprint:
        """Select by one text: `NAME`, `NAME#INDEX`, `cpe:/...` or `cpe:/...#N`.

        nmap cuts names at `#`, so no name contains one and the suffix is
        never ambiguous.
        """
        selector, hash_sign, number = text.rpartition("#")
        index: int | None = None
        if hash_sign and number.isdigit():
            index = int(number)
        else:
            selector = text
        if selector.startswith("cpe:/"):
            return self.select_cpe(selector, index)
        return self.select(selector.strip(), index)

    def search(self, text: str) -> list[Fingerprint]:
        """Fingerprints whose name, class or CPE contains `text`, any case."""
        needle = text.casefold()
        return [
            record
            for record in self.fingerprints
            if needle in record.name.casefold()
            or any(needle in _class_text(item).casefold() for item in record.classes)
        ]

    def _closest(self, name: str) -> list[str]:
        close = difflib.get_close_matches(name, self.by_name, n=5, cutoff=0.6)
        if not close:
            needle = name.casefold()
            close = [known for known in self.by_name if needle in known.casefold()]
        return close[:5]


def _pick(
    records: tuple[Fingerprint, ...],
    index: int | None,
    what: str,
    database: Database,
) -> Fingerprint:
    if index is None:
        if len(records) == 1:
            return records[0]
        choices = [_indexed(record, records, what) for record in records[:5]]
        raise SelectionError(
            f"{what} selects {len(records)} fingerprints; add #1 to "
            f"#{len(records)} to choose one",
            choices,
        )
    if not 1 <= index <= len(records):
        raise SelectionError(
            f"{what} has {len(records)} fingerprint(s); index {index} is out of range",
            [_indexed(record, records, what) for record in records[:5]],
        )
    return records[index - 1]


def _indexed(record: Fingerprint, records: tuple[Fingerprint, ...], what: str) -> str:
    number = records.index(record) + 1
    if what.startswith("CPE"):
        cpe = what.split("'")[1]
        return f"{cpe}#{number} ({record.name})"
    return f"{record.name}#{number}"


def _class_text(os_class: OsClass) -> str:
    parts = [os_class.vendor, os_class.family, os_class.generation or ""]
    return " | ".join([*parts, os_class.device_type, *os_class.cpes])


# The parser ---------------------------------------------------------------


class _Record:
    """A fingerprint while its lines are read."""

    __slots__ = ("name", "line", "classes", "tests")

    def __init__(self, name: str, line: int) -> None:
        self.name = name
        self.line = line
        self.classes: list[OsClass] = []
        self.tests: dict[str, Test] = {}


def parse(text: str, path: str = "<text>") -> Database:
    """Parse the whole text of an nmap-os-db file."""
    match_points: dict[str, Mapping[str, int]] | None = None
    records: list[_Record] = []
    current: _Record | None = None
    in_points = False

    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("#"):
            continue
        if not line.strip():
            current, in_points = None, False
            continue
        if line.startswith("Fingerprint "):
            current, in_points = _header(line, number, path), False
            records.append(current)
        elif line.startswith("MatchPoints") and line.strip() == "MatchPoints":
            if match_points is not None:
                raise DatabaseError(path, number, "a second MatchPoints record")
            match_points, current, in_points = {}, None, True
        elif in_points:
            assert match_points is not None
            name, attributes = _test_line(line, number, path)
            match_points[name] = _points(attributes, number, path)
        elif current is None:
            raise DatabaseError(path, number, f"line outside any record: {line!r}")
        elif line.startswith("Class "):
            current.classes.append(_class_line(line, number, path))
        elif line.startswith("CPE "):
            _cpe_line(current, line, number, path)
        else:
            name, attributes = _test_line(line, number, path)
            if name in current.tests:
                raise DatabaseError(path, number, f"test {name} given twice")
            current.tests[name] = MappingProxyType(attributes)

    if match_points is None:
        raise DatabaseError(path, None, "no MatchPoints record")
    return _database(path, match_points, records)


def _header(line: str, number: int, path: str) -> _Record:
    # nmap ends a name at the first '#', so a name never holds one.
    name = line[len("Fingerprint ") :].split("#", 1)[0].strip()
    if not name:
        raise DatabaseError(path, number, "Fingerprint line without a name")
    return _Record(name, number)


def _class_line(line: str, number: int, path: str) -> OsClass:
    fields = line[len("Class ") :].split("|", 3)
    if len(fields) != 4:
        raise DatabaseError(
            path, number, "a Class line needs vendor | family | generation | type"
        )
    vendor, family, generation, device_type = (field.strip() for field in fields)
    return OsClass(vendor, family, generation or None, device_type, ())


def _cpe_line(record: _Record, line: str, number: int, path: str) -> None:
    if not record.classes:
        raise DatabaseError(path, number, "a CPE line before any Class line")
    words = line.split()
    if len(words) < 2 or not words[1].startswith("cpe:/"):
        raise DatabaseError(path, number, f"not a CPE name: {line!r}")
    # Words after the name are flags such as "auto", which nmap ignores.
    last = record.classes[-1]
    record.classes[-1] = last._replace(cpes=(*last.cpes, words[1]))


def _test_line(line: str, number: int, path: str) -> tuple[str, dict[str, str]]:
    name, parenthesis, rest = line.rstrip().partition("(")
    if not parenthesis or not rest.endswith(")"):
        raise DatabaseError(path, number, f"not a test line: {line!r}")
    allowed = TEST_ATTRIBUTES.get(name)
    if allowed is None:
        raise DatabaseError(path, number, f"unknown test {name!r}")
    body = rest[:-1]
    attributes: dict[str, str] = {}
    for pair in body.split("%") if body else ():
        attribute, equals, expression = pair.partition("=")
        if not equals or attribute not in allowed:
            raise DatabaseError(
                path, number, f"{name} has no attribute {attribute!r} ({pair!r})"
            )
        if attribute in attributes:
            raise DatabaseError(path, number, f"{name}.{attribute} given twice")
        if _HAS_BOUNDS.search(expression) and not is_well_formed(expression):
            raise DatabaseError(
                path, number, f"{name}.{attribute}={expression!r} is malformed"
            )
        attributes[attribute] = expression
    return name, attributes


def _points(attributes: dict[str, str], number: int, path: str) -> Mapping[str, int]:
    points: dict[str, int] = {}
    for attribute, text in attributes.items():
        if not text.isdigit() or int(text) <= 0:
            raise DatabaseError(path, number, f"bad points {attribute}={text!r}")
        points[attribute] = int(text)
    return MappingProxyType(points)


def _database(
    path: str, match_points: dict[str, Mapping[str, int]], records: list[_Record]
) -> Database:
    by_name: dict[str, list[Fingerprint]] = {}
    by_cpe: dict[str, list[Fingerprint]] = {}
    fingerprints = []
    for position, record in enumerate(records):
        same = by_name.setdefault(record.name, [])
        fingerprint = Fingerprint(
            record.name,
            len(same) + 1,
            position,
            record.line,
            tuple(record.classes),
            MappingProxyType(record.tests),
        )
        same.append(fingerprint)
        fingerprints.append(fingerprint)
        for cpe in fingerprint.cpes:
            by_cpe.setdefault(cpe, []).append(fingerprint)
    return Database(
        path,
        MappingProxyType(match_points),
        tuple(fingerprints),
        _freeze(by_name),
        _freeze(by_cpe),
    )


def _freeze(
    table: dict[str, list[Fingerprint]],
) -> Mapping[str, tuple[Fingerprint, ...]]:
    return MappingProxyType({key: tuple(value) for key, value in table.items()})


# Loading and the cache ----------------------------------------------------

_cache: dict[str, tuple[tuple[int, int], Database]] = {}
_cache_lock = threading.Lock()


def load(path: str | os.PathLike[str] = DEFAULT_PATH) -> Database:
    """Parse the database at `path`, or return the copy already parsed.

    The copy is reused while the file's size and modification time stay the
    same. A missing or unreadable file raises DatabaseError.
    """
    text_path = os.fspath(path)
    try:
        status = os.stat(text_path)
    except OSError as error:
        raise DatabaseError(text_path, None, error.strerror or str(error)) from None
    stamp = (status.st_size, status.st_mtime_ns)
    with _cache_lock:
        cached = _cache.get(text_path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    database = parse(_read(text_path), text_path)
    with _cache_lock:
        _cache[text_path] = (stamp, database)
    return database


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as file:
            return file.read()
    except OSError as error:
        raise DatabaseError(path, None, error.strerror or str(error)) from None
