"""The page generator: a plausible company web site behind every path.

Sans-IO and deterministic: a page is a function of (virtual host, path,
secret), so a revisit finds the same page, as on a static site. Only the
trap addresses differ between visitors, so a page is built once as a
template with numbered address slots, and filled per visit.

Each virtual host is its own company (`Site`): name, colours, doctype,
layout, navigation and title style are drawn from the host's seed. Each
page draws a kind (home, article, staff directory, product, contact...)
from its path, and the blocks of that kind in varying order and shape, so
pages do not share one template. Every page carries between `links_min`
and `links_max` links into the maze, spread over all the maze's hosts,
and a `noindex, nofollow` robots meta tag. The front page, the one page
robots.txt allows, says only `noindex`: a polite crawler such as wget
stops following links at a `nofollow`, and would then never read the
robots.txt that tells it the rest of the site is closed.

Routing follows a static Apache site: a path whose last segment has no
extension is a directory, and is redirected to the same path with a
slash (mod_dir); a file of another type than HTML is not found; and a
seeded few percent of the rest are missing (404) or have moved (301).
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape as esc

from services.web_maze.words import DEPARTMENTS, SECTIONS, Prose, Vocabulary, slug

PAGE_EXTENSIONS = frozenset(("html", "htm", "shtml"))
MAX_DEPTH = 8
MAX_PATH = 512
DAY = 86400

Link = tuple[str, str]  # (href, text)

DOCTYPES = (
    "<!DOCTYPE html>",
    '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN"\n'
    '  "http://www.w3.org/TR/html4/loose.dtd">',
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '  "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
)
LAYOUTS = ("table", "sidebar", "html5", "plain")
TITLE_PATTERNS = ("{page} - {site}", "{site} | {page}", "{page} :: {site}",
                  "{site}: {page}", "{page}")  # fmt: skip
FONTS = ("Verdana, Arial, sans-serif", "Georgia, serif", "Tahoma, sans-serif",
         "'Trebuchet MS', Helvetica, sans-serif", "Arial, Helvetica")  # fmt: skip
# Background, text, headings: sober colours, as company sites have them.
PALETTES = (
    ("#ffffff", "#333333", "#1f4e79"), ("#f7f7f2", "#222222", "#8b1a1a"),
    ("#ffffff", "#444444", "#2e7d32"), ("#fdfdfd", "#1a1a1a", "#003366"),
    ("#f4f6f8", "#2b2b2b", "#5b2c6f"), ("#ffffff", "#3b3b3b", "#b35900"),
    ("#fffff8", "#202020", "#004d4d"), ("#eeeeee", "#111111", "#333399"),
)  # fmt: skip
ROBOTS_META = ("noindex, nofollow", "noindex,nofollow", "NOINDEX, NOFOLLOW")

# The kind of page each section's pages are, before the seed decides.
SECTION_KINDS = {
    "about": "about", "company": "about", "news": "article",
    "press": "article", "media": "article", "archive": "listing",
    "products": "product", "solutions": "product", "services": "product",
    "downloads": "listing", "team": "directory", "people": "directory",
    "staff": "directory", "departments": "directory", "contact": "contact",
    "offices": "contact", "support": "faq", "careers": "careers",
    "jobs": "careers", "events": "events", "community": "events",
    "investors": "article", "partners": "listing", "library": "listing",
    "resources": "faq",
}  # fmt: skip
KINDS = ("about", "article", "listing", "product", "directory", "contact",
         "careers", "events", "faq")  # fmt: skip
ROLES = ("info", "sales", "press", "support", "webmaster", "office", "hr",
         "jobs", "marketing", "billing")  # fmt: skip


def seed_of(secret: bytes, *parts: str) -> int:
    """A 64-bit seed that only the secret's holder can predict."""
    message = "\x00".join(parts).encode("utf-8", "surrogateescape")
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class Route:
    """What a path is: `page`, `not_found`, or `redirect` to `location`."""

    kind: str
    location: str = ""


@dataclass(frozen=True)
class PageTemplate:
    """A page with its trap addresses left out.

    The body is parts[0], address slots[0], parts[1], ... ; `hints` names
    the person or role each address stands for, so it can look like theirs.
    """

    parts: tuple[bytes, ...]
    slots: tuple[int, ...]
    hints: tuple[str, ...]
    title: str
    links: tuple[str, ...]

    @property
    def size(self) -> int:
        """The length without addresses: stable, so the ETag is too."""
        return sum(len(part) for part in self.parts)

    def segments(self, addresses: Sequence[bytes]) -> list[bytes]:
        """The body as a list of byte strings, sharing the template's parts."""
        pieces = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            pieces.append(addresses[slot])
            pieces.append(part)
        return pieces

    def fill(self, addresses: Sequence[bytes]) -> bytes:
        return b"".join(self.segments(addresses))


@dataclass(frozen=True)
class Site:
    """The company a virtual host stands for, and its house style."""

    company: str
    tagline: str
    doctype: str
    layout: str
    title_pattern: str
    font: str
    colours: tuple[str, str, str]
    founded: int
    city: str
    street: str
    phone: str
    sections: tuple[str, ...]
    departments: tuple[str, ...]
    meta: str


class Writer:
    """Collects HTML text, cut into parts where addresses go."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._buffer: list[str] = []
        self._slots: list[int] = []

    def add(self, *texts: str) -> None:
        self._buffer.extend(texts)

    def slot(self, index: int) -> None:
        self._parts.append("".join(self._buffer).encode("utf-8"))
        self._buffer = []
        self._slots.append(index)

    def finish(self) -> tuple[tuple[bytes, ...], tuple[int, ...]]:
        self._parts.append("".join(self._buffer).encode("utf-8"))
        return tuple(self._parts), tuple(self._slots)


class Generator:
    """Pages, routes and dates for every virtual host of one secret."""

    def __init__(
        self,
        words: Vocabulary,
        prose: Prose,
        secret: bytes,
        links: tuple[int, int] = (2, 20),
        addresses: int = 4,
        errors: tuple[float, float] = (3.0, 2.0),
        anchor: float = 0.0,
    ) -> None:
        self.words = words
        self.prose = prose
        self.secret = secret
        self.links_min, self.links_max = links
        self.addresses = addresses
        self.not_found_percent, self.redirect_percent = errors
        self.anchor = anchor
        self.site = lru_cache(maxsize=1024)(self._site)

    # Routes and dates ---------------------------------------------------

    def route(self, vhost: str, path: str) -> Route:
        if path == "/":
            return Route("page")
        segments = path.split("/")
        last = segments[-1]
        if len(path) > MAX_PATH or len(segments) > MAX_DEPTH + 1:
            return Route("not_found")
        if last and "." not in last:
            return Route("redirect", path + "/")
        extension = last.rpartition(".")[2].lower() if last else ""
        if extension and extension not in PAGE_EXTENSIONS:
            return Route("not_found")
        draw = seed_of(self.secret, "route", vhost, path) % 10_000 / 100
        if draw < self.not_found_percent:
            return Route("not_found")
        if draw < self.not_found_percent + self.redirect_percent:
            rng = random.Random(seed_of(self.secret, "moved", vhost, path))
            return Route("redirect", self._path(rng, directory_ok=False))
        return Route("page")

    def last_modified(self, vhost: str, path: str) -> int:
        """A date some days before the anchor, whole seconds, per page."""
        offset = seed_of(self.secret, "mtime", vhost, path) % (1200 * DAY)
        return int(self.anchor) - DAY - offset

    # Sites --------------------------------------------------------------

    def _site(self, vhost: str) -> Site:
        rng = random.Random(seed_of(self.secret, "site", vhost))
        words = self.words
        sections = rng.sample(SECTIONS, rng.randint(5, 8))
        return Site(
            company=rng.choice(words.companies),
            tagline=rng.choice(words.phrases),
            doctype=rng.choice(DOCTYPES),
            layout=rng.choice(LAYOUTS),
            title_pattern=rng.choice(TITLE_PATTERNS),
            font=rng.choice(FONTS),
            colours=rng.choice(PALETTES),
            founded=rng.randint(1952, 2012),
            city=rng.choice(words.cities),
            street=rng.choice(words.streets),
            phone=rng.choice(words.phones),
            sections=tuple(sections),
            departments=tuple(rng.sample(DEPARTMENTS, rng.randint(4, 8))),
            meta=rng.choice(ROBOTS_META),
        )

    # Pages --------------------------------------------------------------

    def page(
        self, vhost: str, path: str, hosts: Sequence[str], here: str
    ) -> PageTemplate:
        """The template of `path` on `vhost`.

        `hosts` are the authorities links may point at, and `here` is the
        one among them that means this host: links to it are written as
        paths, like a site's own links.
        """
        rng = random.Random(seed_of(self.secret, "page", vhost, path))
        site = self.site(vhost)
        builder = _PageBuilder(self, site, rng, path)
        nav, links = self._links(rng, site, hosts, here)
        return builder.build(nav, links)

    def _links(
        self, rng: random.Random, site: Site, hosts: Sequence[str], here: str
    ) -> tuple[list[Link], list[Link]]:
        """The site's own menu (at most half the links), then links that
        wander across every host of the maze."""
        count = rng.randint(self.links_min, self.links_max)
        menu = min(len(site.sections), count // 2)
        nav = [(f"/{section}/", section.title()) for section in site.sections[:menu]]
        links = []
        for _ in range(count - menu):
            host = rng.choice(hosts) if hosts else here
            path = self._path(rng, directory_ok=True)
            href = path if host == here else f"http://{host}{path}"
            links.append((href, self._headline(rng)))
        return nav, links

    def _path(self, rng: random.Random, directory_ok: bool) -> str:
        section = rng.choice(SECTIONS)
        name = slug(rng.sample(self.words.words, rng.randint(1, 3)))
        shape = rng.random()
        if shape < 0.35:
            return f"/{section}/{name}.html"
        if shape < 0.55:
            return f"/{section}/{name}/"
        if shape < 0.7:
            year, month = rng.randint(2009, 2024), rng.randint(1, 12)
            return f"/{section}/{year}/{month:02d}/{name}.html"
        if shape < 0.8:
            return f"/{name}.htm"
        if shape < 0.95 or not directory_ok:
            sub = slug([rng.choice(self.words.words)])
            return f"/{section}/{sub}/{name}.html"
        return f"/{section}/{name}"

    def _headline(self, rng: random.Random) -> str:
        if rng.random() < 0.5:
            return rng.choice(self.words.phrases)
        return " ".join(rng.sample(self.words.words, rng.randint(2, 4))).capitalize()


class _Pool:
    """Hands out links or address numbers to blocks until none are left."""

    def __init__(self, items: list) -> None:
        self.items = items

    def take(self, count: int = 1) -> list:
        taken, self.items = self.items[:count], self.items[count:]
        return taken

    def rest(self) -> list:
        return self.take(len(self.items))


class _PageBuilder:
    """Writes one page: head, layout, the kind's blocks, footer."""

    def __init__(self, generator: Generator, site: Site, rng: random.Random, path: str):
        self.generator = generator
        self.words = generator.words
        self.site = site
        self.rng = rng
        self.path = path
        self.out = Writer()
        self.hints: list[str] = []
        self.addresses = _Pool(list(range(generator.addresses)))
        self.kind = self._kind()

    def _kind(self) -> str:
        if self.path == "/":
            return "home"
        section = self.path.strip("/").split("/")[0]
        kind = SECTION_KINDS.get(section)
        if kind is None or self.rng.random() < 0.2:
            kind = self.rng.choice(KINDS)
        if kind == "article" and self.path.endswith("/"):
            kind = "listing"
        return kind

    def build(self, nav: list[Link], links: list[Link]) -> PageTemplate:
        self.hints = [""] * self.generator.addresses
        body_links = _Pool(links)
        title = self._title()
        self._open(title)
        self._layout_start(nav)
        getattr(self, f"_kind_{self.kind}")(body_links)
        self._related(body_links.rest())
        self._footer()
        self._layout_end()
        parts, slots = self.out.finish()
        return PageTemplate(
            parts=parts,
            slots=slots,
            hints=tuple(hint or "info" for hint in self.hints),
            title=title,
            links=tuple(href for href, _ in nav + links),
        )

    # Shared pieces ------------------------------------------------------

    def _title(self) -> str:
        site, rng = self.site, self.rng
        names = {
            "home": (site.tagline, "Welcome", "Home"),
            "about": ("About Us", f"About {site.company}", "Company Profile",
                      "Who We Are"),
            "article": (self.generator._headline(rng),),
            "listing": ("News", "Press Releases", f"Archive {rng.randint(2009, 2024)}",
                        "Publications", "Downloads"),
            "product": (rng.choice(self.words.phrases),),
            "directory": ("Our Team", "Staff Directory", rng.choice(site.departments),
                          "People", "Management"),
            "contact": ("Contact", "Contact Us", "Get in Touch", "Offices"),
            "careers": ("Careers", f"Jobs at {site.company}", "Open Positions"),
            "events": ("Events", "Upcoming Events", "Trade Fairs and Seminars"),
            "faq": ("FAQ", "Frequently Asked Questions", "Support"),
        }  # fmt: skip
        page = rng.choice(names[self.kind])
        if self.kind == "home":
            return site.company if rng.random() < 0.5 else f"{site.company} - {page}"
        return site.title_pattern.format(page=page, site=site.company)

    def _open(self, title: str) -> None:
        site, add = self.site, self.out.add
        background, text, accent = site.colours
        add(site.doctype, "\n<html>\n<head>\n")
        if site.doctype == DOCTYPES[0]:
            add('<meta charset="utf-8">\n')
        else:
            add('<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n')
        add(f"<title>{esc(title)}</title>\n")
        robots = site.meta if self.path != "/" else site.meta.split(",")[0]
        add(f'<meta name="robots" content="{robots}">\n')
        if self.rng.random() < 0.5:
            description = esc(self.rng.choice(self.words.phrases))
            add(f'<meta name="description" content="{description}">\n')
        add(
            f"<style>body {{ font-family: {site.font}; color: {text}; "
            f"background: {background}; }} h1, h2 {{ color: {accent}; }}</style>\n"
        )
        add("</head>\n<body>\n")

    def _nav(self, nav: list[Link]) -> None:
        if not nav:
            return
        add = self.out.add
        if self.site.layout in ("table", "plain") and self.rng.random() < 0.6:
            items = " | ".join(_anchor(href, text) for href, text in nav)
            add(f'<p class="nav">{items}</p>\n')
            return
        add('<ul class="menu">\n')
        for href, text in nav:
            add(f"<li>{_anchor(href, text)}</li>\n")
        add("</ul>\n")

    def _layout_start(self, nav: list[Link]) -> None:
        site, add = self.site, self.out.add
        brand = esc(site.company)
        if site.layout == "table":
            add('<table width="100%" cellpadding="6" border="0">\n<tr><td colspan="2">')
            add(f'<b>{brand}</b></td></tr>\n<tr><td valign="top" width="20%">\n')
            self._nav(nav)
            add('</td>\n<td valign="top">\n')
        elif site.layout == "sidebar":
            add(f'<div id="header"><span class="logo">{brand}</span></div>\n')
            add('<div id="wrap">\n<div id="sidebar">\n')
            self._nav(nav)
            add('</div>\n<div id="content">\n')
        elif site.layout == "html5":
            add(f'<header>\n<p class="brand">{brand}</p>\n<nav>\n')
            self._nav(nav)
            add("</nav>\n</header>\n<main>\n")
        else:
            add(f"<p><big>{brand}</big></p>\n")
            self._nav(nav)
            add("<hr>\n")
        if self.path != "/" and self.rng.random() < 0.4:
            self._breadcrumb()

    def _layout_end(self) -> None:
        if self.site.layout == "table":
            self.out.add("</td></tr>\n</table>\n")
        elif self.site.layout == "sidebar":
            self.out.add("</div>\n</div>\n")
        self.out.add("</body>\n</html>\n")

    def _breadcrumb(self) -> None:
        crumbs = [p for p in self.path.strip("/").split("/") if p][:-1]
        trail = " &gt; ".join(
            ["Home", *(esc(c.replace("-", " ").title()) for c in crumbs)]
        )
        self.out.add(f'<p class="breadcrumb">{trail}</p>\n')

    def _heading(self, level: int, text: str) -> None:
        self.out.add(f"<h{level}>{esc(text)}</h{level}>\n")

    def _paragraphs(self, low: int, high: int) -> None:
        for _ in range(self.rng.randint(low, high)):
            text = self.generator.prose.paragraph(
                self.rng, self.site.company, self.rng.randint(2, 6)
            )
            self.out.add(f"<p>{esc(text)}</p>\n")

    def _email(self, hint: str, shape: str | None = None, label: str = "") -> bool:
        """Writes the next trap address, if any is left, in one of 3 shapes:
        a mailto link showing the address, one showing a name, plain text."""
        taken = self.addresses.take()
        if not taken:
            return False
        index = taken[0]
        self.hints[index] = hint
        shape = shape or ("both", "named", "plain")[index % 3]
        add, slot = self.out.add, self.out.slot
        if shape == "plain":
            slot(index)
        elif shape == "named" and label:
            add('<a href="mailto:')
            slot(index)
            add(f'">{esc(label)}</a>')
        else:
            add('<a href="mailto:')
            slot(index)
            add('">')
            slot(index)
            add("</a>")
        return True

    def _link_list(self, links: list[Link], ordered: bool = False) -> None:
        if not links:
            return
        tag = "ol" if ordered else "ul"
        self.out.add(f"<{tag}>\n")
        for href, text in links:
            self.out.add(f"<li>{_anchor(href, text)}</li>\n")
        self.out.add(f"</{tag}>\n")

    def _related(self, links: list[Link]) -> None:
        if not links:
            return
        headings = (
            "Related",
            "See also",
            "More information",
            "Further reading",
            "Links",
        )
        if self.rng.random() < 0.5:
            self._heading(3, self.rng.choice(headings))
            self._link_list(links)
            return
        text = self.generator.prose.sentence(self.rng, self.site.company)
        inline = ", ".join(_anchor(href, label) for href, label in links)
        self.out.add(f"<p>{esc(text)} {inline}.</p>\n")

    def _footer(self) -> None:
        site, add, rng = self.site, self.out.add, self.rng
        tag = "footer" if site.layout == "html5" else 'div class="footer"'
        close = "footer" if site.layout == "html5" else "div"
        if site.layout == "html5":
            add("</main>\n")
        add(f"<{tag}>\n<p>&copy; {site.founded}-{rng.randint(2019, 2024)} ")
        add(f"{esc(site.company)}, {esc(site.street)}, ")
        add(f"{esc(site.city)}. Tel. {esc(site.phone)}")
        remaining = len(self.addresses.items)
        for number in range(remaining):
            add(" &middot; " if number else "<br>\n")
            role = rng.choice(ROLES)
            add(f"{role.title()}: ")
            self._email(role)
        add(f"</p>\n</{close}>\n")

    # Kinds of page ------------------------------------------------------

    def _kind_home(self, links: _Pool) -> None:
        self._heading(1, self.site.tagline)
        self._paragraphs(1, 3)
        self._heading(2, self.rng.choice(("Our products", "What we do", "Solutions")))
        self.out.add("<ul>\n")
        for phrase in self.rng.sample(self.words.phrases, self.rng.randint(3, 6)):
            self.out.add(f"<li>{esc(phrase)}</li>\n")
        self.out.add("</ul>\n")
        self._heading(2, self.rng.choice(("Latest news", "News", "What's new")))
        self._link_list(links.take(self.rng.randint(2, 5)))
        self._paragraphs(0, 2)

    def _kind_about(self, links: _Pool) -> None:
        self._heading(1, "About " + self.site.company)
        self._paragraphs(2, 4)
        if self.rng.random() < 0.6:
            self._heading(2, "History")
            self.out.add("<dl>\n")
            year = self.site.founded
            for _ in range(self.rng.randint(3, 6)):
                year += self.rng.randint(2, 9)
                sentence = self.generator.prose.sentence(self.rng, self.site.company)
                self.out.add(f"<dt>{year}</dt><dd>{esc(sentence)}</dd>\n")
            self.out.add("</dl>\n")
        self._quote()
        self._paragraphs(1, 2)

    def _kind_article(self, links: _Pool) -> None:
        rng = self.rng
        self._heading(1, self.generator._headline(rng))
        author = self.words.person(rng)
        day = _date(rng, "{d:02d}.{m:02d}.{y}")
        self.out.add(f'<p class="byline">{day} &ndash; {esc(author)}</p>\n')
        self._paragraphs(2, 5)
        self._quote()
        self._paragraphs(1, 3)
        press = self.words.person(rng)
        self.out.add(f"<p>Press contact: {esc(press)}, ")
        self._email(press, label=press)
        self.out.add("</p>\n")

    def _kind_listing(self, links: _Pool) -> None:
        rng = self.rng
        self._heading(1, rng.choice(("News", "Archive", "Press releases", "Documents")))
        items = links.take(rng.randint(3, 10))
        ordered = rng.random() < 0.3
        tag = "ol" if ordered else "ul"
        self.out.add(f"<{tag}>\n")
        for href, text in items:
            date = _date(rng, "{y}-{m:02d}-{d:02d}")
            summary = esc(self.generator.prose.sentence(rng, self.site.company))
            self.out.add(f"<li>{date}: {_anchor(href, text)}<br>{summary}</li>\n")
        self.out.add(f"</{tag}>\n")
        self._paragraphs(0, 2)

    def _kind_product(self, links: _Pool) -> None:
        rng = self.rng
        self._heading(1, rng.choice(self.words.phrases))
        self._paragraphs(1, 3)
        self._heading(2, rng.choice(("Features", "Highlights", "Benefits")))
        self.out.add("<ul>\n")
        for bs in rng.sample(self.words.bs, rng.randint(3, 7)):
            self.out.add(f"<li>{esc(bs.capitalize())}</li>\n")
        self.out.add("</ul>\n")
        if rng.random() < 0.6:
            self.out.add('<table border="1" cellspacing="0">\n')
            for word in rng.sample(self.words.words, rng.randint(3, 6)):
                unit = rng.choice(("units", "GB", "ms", "kg", "users"))
                value = f"{rng.randint(1, 999)} {unit}"
                self.out.add(f"<tr><th>{esc(word.title())}</th><td>{value}</td></tr>\n")
            self.out.add("</table>\n")
        sales = rng.choice(self.site.departments)
        self.out.add(f"<p>Ask our {esc(sales)} team: ")
        self._email("sales")
        self.out.add("</p>\n")

    def _kind_directory(self, links: _Pool) -> None:
        rng, add = self.rng, self.out.add
        self._heading(1, rng.choice(("Our team", "Staff directory", "Who is who")))
        self._paragraphs(1, 2)
        people = [
            (self.words.person(rng), rng.choice(self.words.jobs))
            for _ in range(rng.randint(4, 12))
        ]
        style = rng.choice(("table", "list", "cards"))
        add(
            '<table cellpadding="4">\n'
            if style == "table"
            else "<ul>\n"
            if style == "list"
            else ""
        )
        for name, job in people:
            if style == "table":
                add(f"<tr><td>{esc(name)}</td><td>{esc(job)}</td><td>")
                self._email(name, label=name)
                add("</td></tr>\n")
            elif style == "list":
                add(f"<li><b>{esc(name)}</b>, {esc(job)} ")
                self._email(name, label=name)
                add("</li>\n")
            else:
                add(f'<div class="person"><h3>{esc(name)}</h3><p>{esc(job)}<br>')
                self._email(name, shape="both")
                add("</p></div>\n")
        add("</table>\n" if style == "table" else "</ul>\n" if style == "list" else "")

    def _kind_contact(self, links: _Pool) -> None:
        site, add = self.site, self.out.add
        self._heading(1, self.rng.choice(("Contact", "Contact us", "How to reach us")))
        add(f"<address>{esc(site.company)}<br>\n{esc(site.street)}<br>\n")
        add(f"{esc(site.city)}<br>\nPhone: {esc(site.phone)}</address>\n")
        self._paragraphs(1, 2)
        add("<ul>\n")
        for department in site.departments[
            : self.rng.randint(2, len(site.departments))
        ]:
            add(f"<li>{esc(department)}: ")
            if not self._email(department.split()[0].lower()):
                add(esc(self.rng.choice(self.words.phones)))
            add("</li>\n")
        add("</ul>\n")

    def _kind_careers(self, links: _Pool) -> None:
        rng = self.rng
        self._heading(1, rng.choice(("Careers", "Join us", "Open positions")))
        self._paragraphs(1, 2)
        for job in rng.sample(self.words.jobs, rng.randint(2, 5)):
            self._heading(3, job)
            self._paragraphs(1, 1)
        self.out.add("<p>Please send your application to ")
        self._email("jobs")
        self.out.add(".</p>\n")

    def _kind_events(self, links: _Pool) -> None:
        rng, add = self.rng, self.out.add
        self._heading(1, rng.choice(("Events", "Upcoming events", "Seminars")))
        add(
            '<table border="0" cellpadding="3">\n'
            "<tr><th>Date</th><th>Event</th><th>City</th></tr>\n"
        )
        for _ in range(rng.randint(3, 8)):
            date = _date(rng, "{d:02d}/{m:02d}/{y}")
            event = esc(rng.choice(self.words.phrases))
            city = esc(rng.choice(self.words.cities))
            add(f"<tr><td>{date}</td><td>{event}</td><td>{city}</td></tr>\n")
        add("</table>\n")
        self._paragraphs(1, 2)
        organiser = self.words.person(rng)
        add(f"<p>Registration: {esc(organiser)}, ")
        self._email(organiser, label=organiser)
        add("</p>\n")

    def _kind_faq(self, links: _Pool) -> None:
        rng, add = self.rng, self.out.add
        self._heading(1, rng.choice(("Frequently asked questions", "FAQ", "Support")))
        add("<dl>\n")
        for _ in range(rng.randint(3, 7)):
            question = f"How do we {rng.choice(self.words.bs)}?"
            answer = self.generator.prose.paragraph(
                rng, self.site.company, rng.randint(1, 3)
            )
            add(f"<dt>{esc(question)}</dt>\n<dd>{esc(answer)}</dd>\n")
        add("</dl>\n<p>Still stuck? Write to ")
        self._email("support")
        add(".</p>\n")

    def _quote(self) -> None:
        if self.rng.random() < 0.5:
            return
        sentence = self.generator.prose.sentence(self.rng, self.site.company)
        who = self.words.person(self.rng)
        self.out.add(
            f"<blockquote>&ldquo;{esc(sentence)}&rdquo;<br>"
            f"&mdash; {esc(who)}</blockquote>\n"
        )


def _date(rng: random.Random, pattern: str) -> str:
    day, month, year = rng.randint(1, 28), rng.randint(1, 12), rng.randint(2009, 2025)
    return pattern.format(d=day, m=month, y=year)


def _anchor(href: str, text: str) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'
