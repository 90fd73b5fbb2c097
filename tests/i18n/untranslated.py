"""Finds user-visible text in a Django template that is not marked for translation.

The template is split with Django's own Lexer. Everything the translation tags cover
({% translate %}, {% blocktranslate %}…{% endblocktranslate %}), template syntax, comments and
{% comment %} blocks become a placeholder; what is left is the template's literal HTML. That HTML is
read with the standard library's parser: its text (outside <script>/<style>, and outside <code>: protocol
names such as thing.service.<identifier> are not prose) and the attributes a
user sees or hears must hold no word, except the few in ALLOWED_WORDS. Literal strings a template
passes to `default:`/`default_if_none:` or as an include's `label=` are rendered as they are, so
they must be `_("…")` instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from django.template.base import Lexer, TokenType

# words that are the same in every language of the console, with why
ALLOWED_WORDS: dict[str, str] = {
    "productKey": "EnOS protocol identifier: the EnOS console shows it untranslated in Chinese too",
    "deviceKey": "EnOS protocol identifier: the EnOS console shows it untranslated in Chinese too",
    "deviceSecret": "EnOS protocol identifier: the EnOS console shows it untranslated in Chinese too",
    "OU": "EnOS's abbreviation for an organization unit, kept in the Chinese console (\"OU ID\")",
    "API": "an acronym, the same in Chinese",
    "UTC": "a time zone's name",
    "Swagger": "the name of the API documentation tool (drf-spectacular's default page title)",
}
# attributes whose value is shown (title, placeholder, a button's value) or read out (aria-*, alt),
# and htmx's confirmation text
VISIBLE_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "aria-description", "aria-placeholder",
                      "aria-roledescription", "aria-valuetext", "hx-confirm", "data-confirm"}
BUTTON_INPUT_TYPES = {"button", "submit", "reset"}
NOT_PROSE = {"script", "style", "code"}
PLACEHOLDER = "\x00"
WORD = re.compile(r"[^\W\d_]+")
# a literal string given to default/default_if_none, or to an include as its label: rendered as is
LITERAL_ARGUMENT = re.compile(r"""(?:\|default(?:_if_none)?:|\blabel=)(?P<quote>["'])(?P<text>.*?)(?P=quote)""")
TRANSLATION_BLOCKS = {"blocktranslate": "endblocktranslate", "blocktrans": "endblocktrans",
                      "comment": "endcomment", "verbatim": "endverbatim"}


@dataclass(frozen=True)
class Untranslated:
    line: int
    where: str  # "text", "attribute title", "argument"
    text: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.where}: {self.text!r}"


def words_to_translate(text: str) -> list[str]:
    return [word for word in WORD.findall(text.replace(PLACEHOLDER, " ")) if word not in ALLOWED_WORDS]


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Untranslated] = []
        self._hidden_depth = 0  # inside <script>, <style> or <code>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        visible = set(VISIBLE_ATTRIBUTES)
        if tag == "input" and (values.get("type") or "").lower() in BUTTON_INPUT_TYPES:
            visible.add("value")
        if tag in ("optgroup", "option", "track"):
            visible.add("label")
        for name, value in attrs:
            if name in visible and value and words_to_translate(value):
                self.found.append(Untranslated(self.getpos()[0], f"attribute {name} of <{tag}>", value))
        if tag in NOT_PROSE:
            self._hidden_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in NOT_PROSE and self._hidden_depth:
            self._hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        words = words_to_translate(data)
        if not self._hidden_depth and words:
            line = self.getpos()[0] + data[:data.index(words[0])].count("\n")
            shown = re.sub(f"{PLACEHOLDER}+", "…", data).strip()
            self.found.append(Untranslated(line, "text", shown))


def _literal_html(source: str) -> tuple[str, list[Untranslated]]:
    """The template's literal HTML, every template construct a placeholder (with its line breaks kept,
    so the parser's line numbers stay the template's), and the literal arguments found on the way."""
    parts: list[str] = []
    arguments: list[Untranslated] = []
    closing: str | None = None  # inside a block whose content is not literal text
    for token in Lexer(source).tokenize():
        newlines = "\n" * token.contents.count("\n")
        if closing is not None:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == closing:
                closing = None
            parts.append(newlines if token.token_type == TokenType.TEXT else PLACEHOLDER + newlines)
            continue
        if token.token_type == TokenType.TEXT:
            parts.append(token.contents)
            continue
        if token.token_type in (TokenType.VAR, TokenType.BLOCK):
            for match in LITERAL_ARGUMENT.finditer(token.contents):
                if words_to_translate(match["text"]):
                    arguments.append(Untranslated(token.lineno, "literal argument", match["text"]))
        if token.token_type == TokenType.BLOCK:
            closing = TRANSLATION_BLOCKS.get(token.contents.split()[0])
        parts.append(PLACEHOLDER + newlines)
    return "".join(parts), arguments


def untranslated_strings(source: str) -> list[Untranslated]:
    html, found = _literal_html(source)
    parser = _VisibleText()
    parser.feed(html)
    parser.close()
    return sorted([*found, *parser.found], key=lambda item: item.line)
