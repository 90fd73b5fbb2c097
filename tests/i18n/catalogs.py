"""Reads gettext catalogs without GNU gettext: the messages the templates mark (as makemessages finds them,
through Django's templatize), the entries of a .po file, and the catalog of a compiled .mo file."""

from __future__ import annotations

import ast
import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation.template import templatize

# the keys a compiled catalog holds: msgid, "context\x04msgid", or (msgid, plural form index)
CatalogKey = str | tuple[str, int]
CONTEXT_SEPARATOR = "\x04"


@dataclass(frozen=True)
class Message:
    msgid: str
    plural: str | None = None
    context: str | None = None

    @property
    def key(self) -> str:
        return f"{self.context}{CONTEXT_SEPARATOR}{self.msgid}" if self.context else self.msgid


# --- what the templates mark -----------------------------------------------------------------------

_CALL = re.compile(r"(?<![\w.])(gettext|ngettext|pgettext|npgettext|_)\(")  # _("…"): a filter's argument
_STRING = re.compile(r"""\s*(u?(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"))\s*([,)])""", re.DOTALL)


def template_messages(source: str) -> set[Message]:
    """The messages of a template, read from the gettext calls makemessages' templatize writes for it."""
    messages = set()
    python = templatize(source)
    for call in _CALL.finditer(python):
        strings, position = [], call.end()
        while match := _STRING.match(python, position):
            strings.append(ast.literal_eval(match[1]))
            position = match.end()
            if match[2] == ")":
                break
        function = call[1]
        if function in ("gettext", "_"):
            messages.add(Message(strings[0]))
        elif function == "pgettext":
            messages.add(Message(strings[1], context=strings[0]))
        elif function == "ngettext":
            messages.add(Message(strings[0], strings[1]))
        else:
            messages.add(Message(strings[1], strings[2], context=strings[0]))
    return messages


# --- a .po file ------------------------------------------------------------------------------------

@dataclass
class PoEntry:
    msgid: str = ""
    plural: str | None = None
    context: str | None = None
    translations: dict[int, str] = field(default_factory=dict)  # msgstr (index 0) or msgstr[n]
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def message(self) -> Message:
        return Message(self.msgid, self.plural, self.context)


_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(".*")$')


def read_po(path: Path) -> list[PoEntry]:
    """The entries of a .po file (the header is the entry whose msgid is "")."""
    entries: list[PoEntry] = []
    entry = PoEntry()
    target: tuple[str, int] | None = None
    started = False

    def finish() -> None:
        nonlocal entry, started
        if started:
            entries.append(entry)
        entry, started = PoEntry(), False

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#~"):
            entry.obsolete = True
            line = line[2:].strip()
            if not line or line.startswith("#"):
                continue
        elif line.startswith("#,"):
            if started:
                finish()
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        elif not line or line.startswith("#"):
            if started and not line:
                finish()
            continue
        if line.startswith('"'):
            text = ast.literal_eval(line)
        else:
            match = _KEYWORD.match(line)
            if match is None:
                raise ValueError(f"{path}: cannot read {raw!r}")
            keyword, index, quoted = match.groups()
            if keyword in ("msgctxt", "msgid") and started and (entry.translations or keyword == "msgctxt"):
                obsolete, flags = entry.obsolete, entry.flags
                entry.flags = set()
                finish()
                entry.obsolete, entry.flags = obsolete, flags
            started = True
            target = (keyword if index is None else "msgstr", int(index or 0))
            text = ast.literal_eval(quoted)
            if target[0] == "msgstr":
                entry.translations[target[1]] = ""
        assert target is not None
        name, index = target
        if name == "msgctxt":
            entry.context = (entry.context or "") + text
        elif name == "msgid":
            entry.msgid += text
        elif name == "msgid_plural":
            entry.plural = (entry.plural or "") + text
        else:
            entry.translations[index] += text
    finish()
    return entries


def compiled_form(entries: list[PoEntry]) -> dict[CatalogKey, str]:
    """The catalog msgfmt compiles from these entries: no obsolete or fuzzy entry, no empty translation."""
    catalog: dict[CatalogKey, str] = {}
    for entry in entries:
        if entry.obsolete or "fuzzy" in entry.flags or not all(entry.translations.values()):
            continue
        key = entry.message.key
        if not key:  # the header: msgfmt leaves out the date of the .pot
            catalog[key] = re.sub(r"^POT-Creation-Date: .*\n", "", entry.translations[0], flags=re.MULTILINE)
        elif entry.plural is None:
            catalog[key] = entry.translations[0]
        else:
            catalog.update({(key, index): text for index, text in entry.translations.items()})
    return catalog


def read_mo(path: Path) -> dict[CatalogKey, str]:
    with path.open("rb") as file:
        return dict(gettext.GNUTranslations(file)._catalog)  # type: ignore[attr-defined]


def catalog_problems(messages: set[Message], entries: list[PoEntry], compiled: dict[CatalogKey, str],
                     plural_forms: int) -> list[str]:
    """What keeps a catalog from translating `messages`: a message missing from the .po, an entry fuzzy,
    empty, obsolete or with the wrong number of plural forms, and a compiled catalog that is not the .po's."""
    problems = []
    by_key = {entry.message.key: entry for entry in entries if not entry.obsolete}
    for message in sorted(messages, key=lambda message: message.key):
        entry = by_key.get(message.key)
        if entry is None:
            problems.append(f"not in the catalog: {message.key!r}")
        elif entry.plural != message.plural:
            problems.append(f"plural changed: {message.key!r}: {entry.plural!r} in the catalog, {message.plural!r} now")
    for entry in entries:
        name = entry.message.key
        if entry.obsolete:
            problems.append(f"obsolete entry: {name!r}")
        if "fuzzy" in entry.flags:
            problems.append(f"fuzzy entry: {name!r}" if name else "fuzzy header")
        if not entry.msgid:
            continue
        if not all(entry.translations.values()):
            problems.append(f"untranslated: {name!r}")
        expected_forms = set(range(plural_forms)) if entry.plural is not None else {0}
        if set(entry.translations) != expected_forms:
            problems.append(f"{len(entry.translations)} translations of {name!r}, {len(expected_forms)} expected")
    expected = compiled_form(entries)
    if compiled != expected:
        stale = sorted(str(key) for key in compiled.keys() | expected.keys() if compiled.get(key) != expected.get(key))
        problems.append(f"the .mo is not the compiled .po (run scripts/messages.sh): differs at {stale[:5]}")
    return problems
