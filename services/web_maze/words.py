"""The words pages are made of: Faker's, drawn once into pools, and prose.

Faker is slow for this use (a company name costs about 100 us, a street
address 190 us), and a page needs a hundred such values. So a Vocabulary
asks Faker once, when the service starts, for a few hundred of each kind,
seeded from the site's secret; pages then pick from these pools with their
own seeded random generator, which costs well under a microsecond a pick.

Prose comes from a Markov chain over the operator's corpus when there is
one; otherwise from sentence patterns of corporate English filled with
Faker's values (for English locales), or from Faker's own sentences in the
locale's language.

Limitation: the structural words (section names, headings, the sentence
patterns) are English; with another locale only Faker's values and
sentences are in that language.
"""

from __future__ import annotations

import functools
import random
import re
import unicodedata
from dataclasses import dataclass

from faker import Faker

from services.web_maze.markov import MarkovChain

DEPARTMENTS = (
    "Human Resources", "Finance", "Accounting", "Sales", "Marketing",
    "Customer Service", "Research and Development", "Engineering",
    "Legal", "Procurement", "Logistics", "Quality Assurance",
    "Information Technology", "Public Relations", "Facilities",
    "Business Development", "Operations", "Training", "Compliance",
    "Investor Relations", "Product Management", "Field Services",
)  # fmt: skip

SECTIONS = (
    "about", "news", "products", "services", "team", "people", "contact",
    "careers", "jobs", "press", "departments", "support", "events",
    "investors", "library", "archive", "partners", "solutions", "company",
    "resources", "downloads", "staff", "offices", "media", "community",
)  # fmt: skip

# Patterns of corporate prose. {bs} is Faker's "maximize holistic
# info-mediaries", {phrase} its "Synergistic attitude-oriented open system".
PATTERNS = (
    "{company} helps customers {bs}.",
    "Our {department} team works every day to {bs}.",
    "Since {year}, {company} has worked with partners in {city} to {bs}.",
    "{person}, our {job}, says the new {phrase} will {bs}.",
    "The {department} department can be reached at {phone}.",
    "We are proud to {bs} together with {company2}.",
    "Read how our {department} group set out to {bs}.",
    "Customers choose us because we {bs}.",
    "The {phrase} is now available to all of our clients.",
    "In {year} we opened a new office in {city}.",
    "Our mission is simple: {bs}.",
    "{company2} selected {company} to {bs}.",
    "Questions about the {phrase}? Our {department} staff will help.",
    "{person} joined {company} as {job} in {year}.",
    "We believe that every organisation should {bs}.",
    "Our engineers designed the {phrase} to {bs}.",
    "The annual meeting takes place in {city} each spring.",
    "More than {count} clients rely on our {phrase}.",
    "Learn how {company} can help your business {bs}.",
    "Please contact {department} before {weekday} for the next release.",
    "Our office in {city} is open from Monday to Friday.",
    "{person} leads the {department} team from {city}.",
    "A new version of the {phrase} ships this quarter.",
    "With the {phrase}, teams {bs} in weeks, not months.",
    "Our partners in {city} now {bs} with our help.",
)  # fmt: skip

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")

_POOL_SIZES = {
    "first_name": 300, "last_name": 300, "company": 150,
    "catch_phrase": 300, "bs": 300, "job": 200, "city": 120,
    "street_address": 120, "phone_number": 120, "word": 800,
    "sentence": 400,
}  # fmt: skip

_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: `Jürgen` -> `jurgen`."""
    folded = unicodedata.normalize("NFKD", text)
    ascii_text = folded.encode("ascii", "ignore").decode("ascii").lower()
    return "".join(char for char in ascii_text if char.isalnum())


def slug(words: list[str]) -> str:
    """Words as a URL path segment: `Quarterly Results` -> `quarterly-results`."""
    text = "-".join(ascii_fold(word) for word in words)
    return _NOT_SLUG.sub("-", text).strip("-") or "page"


@dataclass(frozen=True)
class Vocabulary:
    """Pools of Faker values for one locale and seed."""

    locale: str
    english: bool
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    companies: tuple[str, ...]
    phrases: tuple[str, ...]
    bs: tuple[str, ...]
    jobs: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    phones: tuple[str, ...]
    words: tuple[str, ...]
    sentences: tuple[str, ...]

    def person(self, rng: random.Random) -> str:
        return f"{rng.choice(self.first_names)} {rng.choice(self.last_names)}"


def make_faker(locale: str) -> Faker:
    """Faker for `locale`; ValueError names a locale Faker does not know."""
    try:
        return Faker(locale)
    except AttributeError:
        raise ValueError(f"Faker has no locale {locale!r}") from None


@functools.lru_cache(maxsize=8)
def vocabulary(locale: str, seed: int) -> Vocabulary:
    """The pools for (locale, seed); shared by every maze of the process."""
    faker = make_faker(locale)
    faker.seed_instance(seed)
    pools = {name: _pool(faker, name, size) for name, size in _POOL_SIZES.items()}
    return Vocabulary(
        locale=locale,
        english=locale.lower().startswith("en"),
        first_names=pools["first_name"],
        last_names=pools["last_name"],
        companies=pools["company"],
        phrases=pools["catch_phrase"],
        bs=pools["bs"],
        jobs=pools["job"],
        cities=pools["city"],
        streets=pools["street_address"],
        phones=pools["phone_number"],
        words=tuple(word for word in pools["word"] if ascii_fold(word)),
        sentences=pools["sentence"],
    )


def _pool(faker: Faker, provider: str, size: int) -> tuple[str, ...]:
    # Some locales lack a provider (catch phrases are mostly English);
    # Faker then raises AttributeError, and sentences stand in.
    try:
        make = getattr(faker, provider)
        values = {make(): None for _ in range(size)}
    except AttributeError:
        values = {faker.sentence(nb_words=4).rstrip("."): None for _ in range(size)}
    return tuple(values)


class Prose:
    """Sentences for paragraphs: from the corpus chain, patterns, or Faker."""

    def __init__(self, words: Vocabulary, chain: MarkovChain | None = None):
        self.words = words
        self.chain = chain

    def sentence(self, rng: random.Random, company: str) -> str:
        if self.chain is not None:
            return self.chain.sentence(rng)
        if not self.words.english:
            return rng.choice(self.words.sentences)
        text = rng.choice(PATTERNS).format_map(_Slots(self.words, rng, company))
        return text[0].upper() + text[1:]

    def paragraph(self, rng: random.Random, company: str, sentences: int) -> str:
        return " ".join(self.sentence(rng, company) for _ in range(sentences))


class _Slots(dict):
    """Fills a pattern's fields lazily, so a pattern costs only its fields."""

    def __init__(self, words: Vocabulary, rng: random.Random, company: str):
        super().__init__(company=company)
        self.words = words
        self.rng = rng

    def __missing__(self, key: str) -> str:
        words, rng = self.words, self.rng
        if key == "person":
            return words.person(rng)
        if key == "year":
            return str(rng.randint(1978, 2019))
        if key == "count":
            return f"{rng.randint(2, 90) * 50:,}"
        if key == "department":
            return rng.choice(DEPARTMENTS)
        if key == "weekday":
            return rng.choice(WEEKDAYS)
        pool, lower = _POOLS_OF_SLOTS[key]
        value = rng.choice(getattr(words, pool))
        return value.lower() if lower else value


# Pattern field -> (Vocabulary pool, lower-cased in running text).
_POOLS_OF_SLOTS = {
    "company2": ("companies", False),
    "bs": ("bs", False),
    "phrase": ("phrases", True),
    "job": ("jobs", True),
    "city": ("cities", False),
    "phone": ("phones", False),
}


def load_corpus(paths: list[str]) -> MarkovChain:
    """A chain over the operator's files; OSError or ValueError if unusable."""
    texts = []
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as stream:
            texts.append(stream.read())
    return MarkovChain(texts)
