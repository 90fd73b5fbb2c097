"""The device query language, parsed by hand (recursive descent): the lexing depends on where we are (a
value may hold ":" and "-", a tag list stops at ","), and every error names the token and its column.

    query  := or
    or     := and (OR and)*
    and    := not ((AND)? not)*          juxtaposed terms are ANDed
    not    := NOT not | primary
    primary:= "(" or ")" | term
    term   := field ":" value | tag:key[=value | in (v, ...)] | attr:name op value
              | time op value | word | "quoted text"

AND / OR / NOT in any case; NOT binds tighter than AND, AND tighter than OR.
"""

from __future__ import annotations

import datetime as dt
import re

from django.utils.translation import gettext as _

from ..datatypes import IDENTIFIER_RE
from ..validators import TAG_KEY_RE
from .ast import And, Attribute, Field, Group, Node, Not, Or, Tag, Text, Time, TimeValue
from .errors import QueryError

MAX_LENGTH = 2000
MAX_DEPTH = 20
MAX_TERMS = 50

FIELDS = {
    "name": "name", "key": "key", "devicekey": "key", "device_key": "key",
    "assetid": "asset_id", "asset_id": "asset_id",
    "status": "status", "product": "product", "model": "model", "type": "type", "gateway": "gateway",
    "tag": "tag", "attr": "attr", "attribute": "attr", "has": "has", "group": "group",
    "activated": "activated", "last_online": "last_online", "last_offline": "last_offline",
}
TIME_FIELDS = ("activated", "last_online", "last_offline")
STATUSES = {"online": "online", "offline": "offline", "inactive": "inactive", "disabled": "disable",
            "disable": "disable"}
TYPES = {"device": "Device", "gateway": "Gateway", "sub_device": "Sub-device", "sub-device": "Sub-device",
         "subdevice": "Sub-device"}
HAS = {"sub_devices": "sub_devices", "sub-devices": "sub_devices", "subdevices": "sub_devices"}
COMPARISONS = ("<=", ">=", "!=", "<", ">", "=")
TIME_COMPARISONS = ("<=", ">=", "<", ">")
STOP = set(" \t\r\n\f\v()\"")
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KEYWORD_RE = re.compile(r"(AND|OR|NOT)(?=[\s()\"]|\Z)", re.IGNORECASE)
IN_RE = re.compile(r"\s*in\s*\(", re.IGNORECASE)
RELATIVE_RE = re.compile(r"^(\d{1,6})([smhdw])$")
DAY_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse(text: str) -> Node | None:
    """The query's tree; None for an empty query (it narrows nothing). Raises QueryError."""
    return Parser(text).parse()


def parse_time_value(value: str) -> TimeValue | None:
    """`7d`, `24h`, `30m`, `2026-12-01`, or an ISO datetime (`Z` or an offset; else the current time zone)."""
    relative = RELATIVE_RE.match(value)
    if relative:
        return TimeValue(ago=dt.timedelta(**{UNITS[relative[2]]: int(relative[1])}))
    try:
        if DAY_RE.match(value):
            return TimeValue(day=dt.date.fromisoformat(value))
        return TimeValue(instant=dt.datetime.fromisoformat(value))
    except ValueError:
        return None


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.terms = 0

    # --- helpers ------------------------------------------------------------------------------

    def error(self, message: str, start: int, token: str) -> QueryError:
        return QueryError(message, column=start + 1, token=token)

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def keyword(self) -> str | None:
        match = KEYWORD_RE.match(self.text, self.pos)
        return match[1].upper() if match else None

    def take_keyword(self) -> tuple[int, str]:
        start = self.pos
        match = KEYWORD_RE.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()
        return start, match[1]

    def expect_term_after(self, start: int, token: str) -> None:
        self.skip()
        if self.at_end() or self.peek() == ")" or self.keyword() in ("AND", "OR"):
            raise self.error(_('Expected a term after "%(token)s" at column %(column)d') % {
                "token": token, "column": start + 1}, start, token)

    def read_quoted(self) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                return "".join(chars)
            chars.append(char)
            self.pos += 1
        token = self.text[start:]
        raise self.error(_("The quote at column %(column)d is never closed") % {"column": start + 1}, start, token)

    def read_value(self, stop: str = "") -> tuple[str, int] | None:
        """A quoted string or a run of characters up to a space, a parenthesis (or one of `stop`)."""
        start = self.pos
        if self.peek() == '"':
            return self.read_quoted(), start
        while self.pos < len(self.text) and self.text[self.pos] not in STOP and self.text[self.pos] not in stop:
            self.pos += 1
        if self.pos == start:
            return None
        return self.text[start:self.pos], start

    def expect_value(self, start: int, stop: str = "") -> tuple[str, int]:
        value = self.read_value(stop)
        if value is None:
            token = self.text[start:self.pos].strip()
            raise self.error(_('Expected a value after "%(token)s" at column %(column)d') % {
                "token": token, "column": start + 1}, start, token)
        return value

    def read_operator(self, allowed: tuple[str, ...]) -> str | None:
        for op in allowed:
            if self.text.startswith(op, self.pos):
                self.pos += len(op)
                return op
        return None

    # --- grammar ------------------------------------------------------------------------------

    def parse(self) -> Node | None:
        if len(self.text) > MAX_LENGTH:
            raise self.error(_("The query is too long: at most %(limit)d characters.") % {"limit": MAX_LENGTH},
                             MAX_LENGTH, self.text[MAX_LENGTH:MAX_LENGTH + 20])
        self.skip()
        if self.at_end():
            return None
        keyword = self.keyword()
        if keyword in ("AND", "OR"):
            start, token = self.take_keyword()
            raise self.error(_('Expected a term before "%(token)s" at column %(column)d') % {
                "token": token, "column": start + 1}, start, token)
        node = self.parse_or()
        self.skip()
        if not self.at_end():  # parse_and stops only at the end, OR or ")"
            raise self.error(_('Unexpected ")" at column %(column)d: no "(" opens it') % {"column": self.pos + 1},
                             self.pos, ")")
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.keyword() == "OR":
            start, token = self.take_keyword()
            self.expect_term_after(start, token)
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_not()]
        while True:
            self.skip()
            if self.at_end() or self.peek() == ")":
                break
            keyword = self.keyword()
            if keyword == "OR":
                break
            if keyword == "AND":
                start, token = self.take_keyword()
                self.expect_term_after(start, token)
            children.append(self.parse_not())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_not(self) -> Node:
        self.skip()
        if self.keyword() == "NOT":
            start, token = self.take_keyword()
            self.expect_term_after(start, token)
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(_("The query nests too deeply at column %(column)d.") % {"column": start + 1},
                                 start, token)
            child = self.parse_not()
            self.depth -= 1
            return Not(child)
        return self.parse_primary()

    def parse_primary(self) -> Node:
        self.skip()
        start = self.pos
        if self.peek() == "(":
            self.pos += 1
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise self.error(_("The query nests too deeply at column %(column)d.") % {"column": start + 1},
                                 start, "(")
            self.expect_term_after(start, "(")
            node = self.parse_or()
            self.skip()
            if self.peek() != ")":
                raise self.error(_('The "(" at column %(column)d is never closed: add ")"') % {
                    "column": start + 1}, start, "(")
            self.pos += 1
            self.depth -= 1
            return node
        if self.peek() == ")":
            raise self.error(_('Unexpected ")" at column %(column)d: no "(" opens it') % {"column": start + 1},
                             start, ")")
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(_("The query has too many terms: at most %(limit)d.") % {"limit": MAX_TERMS},
                             start, self.text[start:start + 20])
        return self.parse_term()

    def parse_term(self) -> Node:
        start = self.pos
        if self.peek() == '"':
            text = self.read_quoted()
            if not text.strip():
                token = self.text[start:self.pos]
                raise self.error(_("Empty quotes at column %(column)d: put the text to search between them") % {
                    "column": start + 1}, start, token)
            return Text(start + 1, self.text[start:self.pos], text)
        name = NAME_RE.match(self.text, self.pos)
        if name:
            lower = name[0].lower()
            if name.end() < len(self.text) and self.text[name.end()] == ":":
                field = FIELDS.get(lower)
                if field is None:
                    raise self.error(_('Unknown field "%(field)s" at column %(column)d') % {
                        "field": name[0], "column": start + 1}, start, name[0])
                self.pos = name.end() + 1
                return self.parse_field(field, start)
            if lower in TIME_FIELDS:
                self.pos = name.end()
                return self.parse_time(lower, start)
        word, _start = self.read_value()  # type: ignore[misc]  # not at a stop character: never None
        return Text(start + 1, word, word)

    def parse_field(self, field: str, start: int) -> Node:
        if field in TIME_FIELDS:
            return self.parse_time(field, start)
        if field == "tag":
            return self.parse_tag(start)
        if field == "attr":
            return self.parse_attribute(start)
        value, value_start = self.expect_value(start)
        token = self.text[start:self.pos]
        if field == "group":
            if not value.strip():
                raise self.error(_('Expected a group name after "group:" at column %(column)d') % {
                    "column": start + 1}, start, token)
            return Group(start + 1, token, value)
        choices = {"status": STATUSES, "type": TYPES, "has": HAS}.get(field)
        if choices is not None:
            normal = choices.get(value.lower())
            if normal is None:
                messages = {
                    "status": _('Unknown status "%(value)s" at column %(column)d: use online, offline, inactive '
                                'or disabled'),
                    "type": _('Unknown asset type "%(value)s" at column %(column)d: use device, gateway or '
                              'sub_device'),
                    "has": _('Unknown "has:%(value)s" at column %(column)d: use has:sub_devices'),
                }
                raise self.error(messages[field] % {"value": value, "column": value_start + 1}, value_start, value)
            value = normal
        return Field(start + 1, token, field, value)

    def parse_tag(self, start: int) -> Node:
        key_start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in STOP and self.text[self.pos] not in "=!<>,":
            self.pos += 1
        key = self.text[key_start:self.pos]
        if not key:
            raise self.error(_('Expected a tag key after "tag:" at column %(column)d') % {"column": start + 1},
                             start, "tag:")
        if not TAG_KEY_RE.match(key):
            raise self.error(_('"%(key)s" at column %(column)d is not a tag key (1 to 50 letters, digits, '
                               '_ - or /)') % {"key": key, "column": key_start + 1}, key_start, key)
        after_key = self.pos
        self.skip()
        if self.peek() == "=":
            self.pos += 1
            self.skip()
            value, _value_start = self.expect_value(start)
            return Tag(start + 1, self.text[start:self.pos], key, (value,))
        listed = IN_RE.match(self.text, after_key)
        if listed:
            self.pos = listed.end()
            values = []
            while True:
                self.skip()
                value, _value_start = self.expect_value(start, stop=",")
                values.append(value)
                self.skip()
                if self.peek() == ",":
                    self.pos += 1
                    continue
                if self.peek() == ")":
                    self.pos += 1
                    break
                found = self.text[self.pos:self.pos + 10] or _("the end")
                raise self.error(_('Expected "," or ")" in the list of tag values at column %(column)d, found '
                                   '"%(found)s"') % {"column": self.pos + 1, "found": found}, self.pos, found)
            return Tag(start + 1, self.text[start:self.pos], key, tuple(values))
        self.pos = after_key
        return Tag(start + 1, self.text[start:self.pos], key, None)

    def parse_attribute(self, start: int) -> Node:
        name = NAME_RE.match(self.text, self.pos)
        if not name or not IDENTIFIER_RE.match(name[0]):
            raise self.error(_('Expected an attribute name after "attr:" at column %(column)d') % {
                "column": start + 1}, start, self.text[start:self.pos])
        self.pos = name.end()
        self.skip()
        op = self.read_operator(COMPARISONS)
        if op is None:
            token = self.text[start:name.end()]
            raise self.error(_('Expected a comparison (=, !=, <, <=, >, >=) after "%(token)s" at column '
                               '%(column)d') % {"token": token, "column": start + 1}, start, token)
        self.skip()
        value, value_start = self.expect_value(start)
        return Attribute(start + 1, self.text[start:self.pos], name[0], op, value, value_start + 1)

    def parse_time(self, field: str, start: int) -> Node:
        self.skip()
        op = self.read_operator(TIME_COMPARISONS)
        if op is None:
            token = self.text[start:self.pos].strip()
            raise self.error(_('Expected <, <=, > or >= after "%(token)s" at column %(column)d') % {
                "token": token, "column": start + 1}, start, token)
        self.skip()
        value, value_start = self.expect_value(start)
        parsed = parse_time_value(value)
        if parsed is None:
            raise self.error(_('"%(value)s" at column %(column)d is not a time: use 7d, 24h, 30m, 2026-12-01 '
                               'or 2026-12-01T08:00:00Z') % {"value": value, "column": value_start + 1},
                             value_start, value)
        return Time(start + 1, self.text[start:self.pos], field, op, parsed)
