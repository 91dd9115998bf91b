"""What contributed text may hold, judged on the text as it will be published.

A description goes through Markdown and the HTML sanitiser, which decode character references (``&#27;``,
``&#x202E;``, ``&NewLine;``, ``&rlm;`` …); and any field can meet a consumer that decodes them (a harvester
reading HTML out of a DataCite title, a page that shows ``&#x202E;`` from JSON-LD as markup). So every text is
checked twice: as written, and with every character reference decoded, over and over until nothing changes
(``&amp;#27;`` is ``&#27;`` after one decoding and ESC after two). Numeric references are read as the code
point they name, whatever HTML5 would substitute for it: that is what an XML parser or a careless decoder
makes of them. The description, which is Markdown, is also checked as the HTML and the plain text that
Markdown and the sanitiser make of it: a backslash escape (``&\\#27;``) or a tag or comment they remove
(``&<!-- -->#27;``) can join the parts of a reference that the text as written keeps apart.

Refused, in either form:

* control characters (Unicode category Cc; tab and line breaks only where a field may have several lines);
* bidirectional controls (the Unicode Bidi_Control property: U+061C, U+200E, U+200F, U+202A–U+202E,
  U+2066–U+2069), which can make text read differently from how it is stored;
* invisible characters: every format character (category Cf, e.g. zero-width space, word joiner, soft hyphen,
  byte-order mark, invisible operators, the tag characters U+E0000–U+E007F that can smuggle hidden ASCII) and
  the other default-ignorable code points (combining grapheme joiner, Hangul fillers, variation selectors …);
* noncharacters (U+FDD0–U+FDEF and the last two code points of every plane: XML cannot hold U+FFFE/U+FFFF)
  and lone surrogates (not characters at all: no UTF-8 file can hold one).

The allow-list, because real names and titles need them: a zero-width joiner or non-joiner between two
non-ASCII letters, marks or symbols (Persian and Indic spelling, emoji sequences such as 👩‍💻), and one
variation selector right after a visible non-ASCII character (emoji presentation ❤️, CJK ideographic variants)
or in a keycap (1️⃣). Between ASCII characters, at the start or end, or repeated, they do nothing visible and
are refused.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

#: How often references are decoded before the text counts as nested too deeply (legitimate text needs 2).
MAX_DECODINGS = 8

BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_JOINERS = frozenset("\u200c\u200d")
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties) outside category Cf.
_IGNORABLE = ((0x034F, 0x034F), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F), (0x3164, 0x3164),
              (0xFE00, 0xFE0F), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0xE0000, 0xE0FFF))
_SELECTORS = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
# The same references html.unescape reads (named ones up to 32 characters, the ';' optional as in HTML5).
_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)")

#: Kinds of finding, in the order they are reported.
CONTROL, INVISIBLE, NONCHARACTER, SURROGATE, BIDI_CONTROL, NESTED = (
    "control", "invisible", "noncharacter", "surrogate", "bidi", "nested")
_ORDER = (CONTROL, INVISIBLE, NONCHARACTER, SURROGATE, BIDI_CONTROL, NESTED)


@dataclass(frozen=True)
class Finding:
    """One kind of character a text may not hold: the first such character, and the reference it was written
    as when it only appears once references are decoded."""

    kind: str
    char: str = ""
    written: str | None = None
    #: Found only in the HTML and plain text that Markdown and the sanitiser make of the text.
    rendered: bool = False

    def message(self) -> str:
        code = f"U+{ord(self.char):04X}" if self.char else ""
        detail = (f"written as {self.written!r}" if self.written else
                  "once the Markdown is rendered" if self.rendered else "")
        how = f" ({detail})" if detail else ""
        return {
            CONTROL: f"contains the control character {code}{how}",
            INVISIBLE: f"contains the invisible character {code}{how}",
            NONCHARACTER: f"contains the noncharacter {code}{how}",
            SURROGATE: f"contains the lone surrogate {code}{how}, which is not a character",
            BIDI_CONTROL: "contains a bidirectional-override character"
                          + (f" ({code}, {detail})" if detail else "")
                          + ", which can disguise text",
            NESTED: f"holds character references nested more than {MAX_DECODINGS} levels deep",
        }[self.kind]

    def hint(self) -> str:
        if self.written or self.rendered:
            return ("remove the character reference: the page's Markdown, its HTML sanitiser and other readers "
                    "decode it into this character")
        return {
            CONTROL: "keep this field on one line and remove invisible characters",
            INVISIBLE: "remove it (zero-width space or word joiner, often pasted from a web page)",
            NONCHARACTER: "remove it: it is not a character, and XML files cannot hold it",
            SURROGATE: "remove it: no UTF-8 file can hold it (write the character itself)",
            BIDI_CONTROL: "remove it (U+202A–U+202E, U+2066–U+2069)",
            NESTED: "write the characters themselves",
        }[self.kind]


#: The format characters (category Cf) of the Unicode database Python 3.11 ships, as ranges: what
#: :func:`format_ranges` finds there, without its scan of every code point.
_FORMAT_RANGES_14 = ((0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
                     (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
                     (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
                     (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
                     (0xE0001, 0xE0001), (0xE0020, 0xE007F))


def format_ranges(version: str | None = None) -> tuple[tuple[int, int], ...]:
    """The code points of category Cf, as ranges: the table for Unicode 14.0.0, else a scan of the database.

    Speed-up, measured (benchmarks/README.md, sixth round): the scan took 0.26 s of CPU in every process that
    checks text (the parent and each worker of a load: ~0.5 s of a cold validate, ~5 % of the text checks at
    N = 10,000); the table takes nothing."""
    if (version or unicodedata.unidata_version) == "14.0.0":
        return _FORMAT_RANGES_14
    out: list[tuple[int, int]] = []
    for c in range(0x110000):
        if unicodedata.category(chr(c)) == "Cf":
            if out and out[-1][1] == c - 1:
                out[-1] = (out[-1][0], c)
            else:
                out.append((c, c))
    return tuple(out)


@cache
def _suspects() -> re.Pattern[str]:
    """Every character that needs a closer look (built once)."""
    ranges = [(0x00, 0x1F), (0x7F, 0x9F), (0xD800, 0xDFFF), (0xFDD0, 0xFDEF), *_IGNORABLE]
    ranges += [(plane + 0xFFFE, plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000)]
    ranges += format_ranges()
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in sorted(ranges)) + "]")


def _in(c: str, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(a <= ord(c) <= b for a, b in ranges)


def _joins(c: str | None) -> bool:
    """Whether a joiner next to ``c`` can change how text is shown (a non-ASCII letter, mark, symbol, number)."""
    return c is not None and not c.isascii() and unicodedata.category(c)[0] in "LMSN"


def _kind(text: str, i: int, multiline: bool) -> str | None:
    """What the suspect character ``text[i]`` is, or None when it is allowed where it stands."""
    c = text[i]
    if c in BIDI:
        return BIDI_CONTROL
    if c in "\t\n\r":
        return None if multiline else CONTROL
    category = unicodedata.category(c)
    if category == "Cc":
        return CONTROL
    if category == "Cs":
        return SURROGATE
    if 0xFDD0 <= ord(c) <= 0xFDEF or ord(c) & 0xFFFE == 0xFFFE:
        return NONCHARACTER
    before = text[i - 1] if i else None
    if c in _JOINERS:
        after = text[i + 1] if i + 1 < len(text) else None
        return None if _joins(before) and _joins(after) else INVISIBLE
    if _in(c, _SELECTORS):
        if before is not None and before.isascii():  # only a keycap: 1️⃣ is '1', U+FE0F, U+20E3
            return None if before in "0123456789#*" and text[i + 1:i + 2] == "\u20e3" else INVISIBLE
        base = before is not None and unicodedata.category(before)[0] in "LNSP"
        return None if base else INVISIBLE
    return INVISIBLE


def _scan(text: str, multiline: bool) -> dict[str, str]:
    """The first character of each kind that ``text`` may not hold, as written."""
    found: dict[str, str] = {}
    for m in _suspects().finditer(text):
        kind = _kind(text, m.start(), multiline)
        if kind is not None:
            found.setdefault(kind, m.group())
    return found


def _reference(m: re.Match[str]) -> str:
    ref = m.group(1)
    if ref[0] != "#":
        return html.unescape(m.group())
    hexadecimal = ref[1] in "xX"
    digits = ref[2 if hexadecimal else 1:].rstrip(";").lstrip("0") or "0"
    if len(digits) > (6 if hexadecimal else 7):  # (beyond U+10FFFF; and int() would refuse 4,301 digits)
        return "\ufffd"
    code = int(digits, 16 if hexadecimal else 10)
    return chr(code) if code <= 0x10FFFF else "\ufffd"


def decoded(text: str) -> str | None:
    """``text`` with its character references decoded until none is left; None when that takes more than
    :data:`MAX_DECODINGS` rounds."""
    for _ in range(MAX_DECODINGS):
        if "&" not in text:
            return text
        new = _REFERENCE.sub(_reference, text)
        if new == text:
            return text
        text = new
    return text if _REFERENCE.sub(_reference, text) == text else None


def _written(text: str, char: str) -> str | None:
    """The shortest stretch of ``text`` from an '&' whose decoding holds ``char`` (for the message)."""
    for n, m in enumerate(re.finditer("&", text)):
        if n >= 64:
            break
        start = m.start()
        for end in range(start + 2, min(len(text), start + 96) + 1):
            if char in (decoded(text[start:end]) or ""):
                return text[start:end + 1] if text[end:end + 1] == ";" else text[start:end]
    return None


def _decoded_findings(text: str, multiline: bool, out: dict[str, Finding], rendered: bool = False) -> None:
    """Add to ``out`` what ``text`` holds as written, and once its references are decoded (kinds not yet in it)."""
    for kind, c in _scan(text, multiline).items():
        out.setdefault(kind, Finding(kind, c, rendered=rendered))
    if "&" in text:
        plain = decoded(text)
        if plain is None:
            out.setdefault(NESTED, Finding(NESTED))
        elif plain != text:
            for kind, c in _scan(plain, multiline).items():
                if kind not in out:
                    out[kind] = Finding(kind, c, None if rendered else _written(text, c), rendered)


def findings(text: str, multiline: bool = False, markdown: bool = False) -> list[Finding]:
    """Everything ``text`` may not hold, as written or once decoded: the first character of each kind.

    With ``markdown`` (the description), also what the HTML and the plain text made of it hold: Markdown's
    backslash escapes, and tags or comments the sanitiser removes, can join the parts of a reference
    (``&\\#27;``, ``&<!-- -->#27;``) that the text as written does not show."""
    if "&" not in text and ((text.isascii() and text.isprintable()) or not _suspects().search(text)):
        return []  # (the usual case: plain ASCII text is settled without the Unicode table)
    out: dict[str, Finding] = {}
    _decoded_findings(text, multiline, out)
    if markdown and "&" in text:  # (no '&', no reference: Markdown and the sanitiser then add nothing)
        from .markdown import to_html, to_text

        for published in (to_html(text), to_text(text)):
            _decoded_findings(published, True, out, rendered=True)
    return [out[k] for k in _ORDER if k in out]


def suspect(text: str) -> bool:
    """Whether ``text`` holds a character that :func:`findings` looks at closely (a control, format, invisible,
    noncharacter or surrogate code point)."""
    return any(map(_suspect_char, set(text)))  # (each distinct character once: faster than the pattern's search)


@cache
def _suspect_char(c: str) -> bool:
    return _suspects().match(c) is not None


def first(text: str, multiline: bool = False) -> Finding | None:
    """The first of :func:`findings`, or None when ``text`` is fine."""
    found = findings(text, multiline)
    return found[0] if found else None
