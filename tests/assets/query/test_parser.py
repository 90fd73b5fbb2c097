"""The query language's grammar: what each query parses to, and where each error points."""

from __future__ import annotations

import datetime as dt

import pytest

from assets.query import QueryError, parse
from assets.query.ast import And, Attribute, Field, Not, Or, Tag, Text, Time, TimeValue


def shape(node):
    """The tree without positions, for short assertions."""
    if isinstance(node, And):
        return ("AND", *[shape(child) for child in node.children])
    if isinstance(node, Or):
        return ("OR", *[shape(child) for child in node.children])
    if isinstance(node, Not):
        return ("NOT", shape(node.child))
    if isinstance(node, Text):
        return node.text
    if isinstance(node, Field):
        return f"{node.field}={node.value}"
    if isinstance(node, Tag):
        return ("tag", node.key, node.values)
    if isinstance(node, Attribute):
        return ("attr", node.name, node.op, node.value)
    if isinstance(node, Time):
        return ("time", node.field, node.op, node.value)
    raise AssertionError(node)


def error_of(query: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse(query)
    return caught.value


@pytest.mark.parametrize("query", ["", "   ", "\t\n"])
def test_an_empty_query_narrows_nothing(query):
    assert parse(query) is None


def test_not_binds_tighter_than_and_and_and_tighter_than_or():
    assert shape(parse("a OR b AND NOT c")) == ("OR", "a", ("AND", "b", ("NOT", "c")))
    assert shape(parse("NOT a AND b OR c")) == ("OR", ("AND", ("NOT", "a"), "b"), "c")


def test_terms_side_by_side_are_anded():
    assert shape(parse("a b c")) == ("AND", "a", "b", "c")
    assert shape(parse("a b OR c")) == ("OR", ("AND", "a", "b"), "c")


def test_parentheses_group():
    assert shape(parse("(a OR b) c")) == ("AND", ("OR", "a", "b"), "c")
    assert shape(parse("NOT (a OR b)")) == ("NOT", ("OR", "a", "b"))
    assert shape(parse("((a))")) == "a"


@pytest.mark.parametrize("query", ["a and b or not c", "a And b Or Not c"])
def test_operators_in_any_case(query):
    assert shape(parse(query)) == ("OR", ("AND", "a", "b"), ("NOT", "c"))


def test_quoted_text_keeps_spaces_operators_and_escapes():
    assert shape(parse('"pump north" "a AND b"')) == ("AND", "pump north", "a AND b")
    assert shape(parse(r'"say \"hi\""')) == 'say "hi"'
    assert shape(parse('name:"Pump (north)"')) == "name=Pump (north)"


def test_bare_words_keep_device_key_characters():
    assert shape(parse("east-dev-000 inv.01:a")) == ("AND", "east-dev-000", "inv.01:a")


@pytest.mark.parametrize(("query", "expected"), [
    ("name:pump", "name=pump"),
    ("key:inv-01", "key=inv-01"),
    ("deviceKey:inv-01", "key=inv-01"),
    ("assetId:Ab12", "asset_id=Ab12"),
    ("status:online", "status=online"),
    ("status:OFFLINE", "status=offline"),
    ("status:inactive", "status=inactive"),
    ("status:disabled", "status=disable"),
    ("status:disable", "status=disable"),
    ("product:Inverter", "product=Inverter"),
    ('product:"Edge gateway"', "product=Edge gateway"),
    ("model:inverter", "model=inverter"),
    ("type:device", "type=Device"),
    ("type:gateway", "type=Gateway"),
    ("type:sub_device", "type=Sub-device"),
    ("type:Sub-device", "type=Sub-device"),
    ("gateway:gw-0001", "gateway=gw-0001"),
    ("has:sub_devices", "has=sub_devices"),
])
def test_field_predicates(query, expected):
    assert shape(parse(query)) == expected


def test_tag_predicates():
    assert shape(parse("tag:site")) == ("tag", "site", None)
    assert shape(parse("tag:site=suzhou")) == ("tag", "site", ("suzhou",))
    assert shape(parse('tag:site = "north bay"')) == ("tag", "site", ("north bay",))
    assert shape(parse('tag:site in (a, "b c",d)')) == ("tag", "site", ("a", "b c", "d"))
    assert shape(parse("tag:site IN (a)")) == ("tag", "site", ("a",))
    assert shape(parse("tag:a/b-c_1")) == ("tag", "a/b-c_1", None)


@pytest.mark.parametrize("op", ["=", "!=", "<", "<=", ">", ">="])
def test_attribute_comparisons(op):
    assert shape(parse(f"attr:capacity{op}500")) == ("attr", "capacity", op, "500")
    assert shape(parse(f"attr:capacity {op} 500")) == ("attr", "capacity", op, "500")


def test_attribute_values_quoted_or_dates():
    assert shape(parse('attr:serial="SN 1"')) == ("attr", "serial", "=", "SN 1")
    assert shape(parse("attr:commissioned>=2026-12-01")) == ("attr", "commissioned", ">=", "2026-12-01")


@pytest.mark.parametrize(("text", "value"), [
    ("7d", TimeValue(ago=dt.timedelta(days=7))),
    ("24h", TimeValue(ago=dt.timedelta(hours=24))),
    ("30m", TimeValue(ago=dt.timedelta(minutes=30))),
    ("2w", TimeValue(ago=dt.timedelta(weeks=2))),
    ("2026-12-01", TimeValue(day=dt.date(2026, 12, 1))),
    ("2026-12-01T08:00:00+08:00",
     TimeValue(instant=dt.datetime(2026, 12, 1, 8, tzinfo=dt.timezone(dt.timedelta(hours=8))))),
    ("2026-12-01T08:00:00Z", TimeValue(instant=dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC))),
])
@pytest.mark.parametrize("field", ["activated", "last_online", "last_offline"])
def test_time_predicates(field, text, value):
    assert shape(parse(f"{field}<{text}")) == ("time", field, "<", value)
    assert shape(parse(f"{field} >= {text}")) == ("time", field, ">=", value)
    assert shape(parse(f"{field}:>{text}")) == ("time", field, ">", value)


def test_the_issue_example():
    tree = parse("status:offline AND tag:site=suzhou AND attr:capacity>=500 AND last_online<7d")
    assert shape(tree) == ("AND", "status=offline", ("tag", "site", ("suzhou",)), ("attr", "capacity", ">=", "500"),
                           ("time", "last_online", "<", TimeValue(ago=dt.timedelta(days=7))))
    assert [child.column for child in tree.children] == [1, 20, 40, 63]


@pytest.mark.parametrize(("query", "message", "column", "token"), [
    ("stat:online", 'Unknown field "stat" at column 1', 1, "stat"),
    ("a  foo:bar", 'Unknown field "foo" at column 4', 4, "foo"),
    ("status:offline attr:capacity>=", 'Expected a value after "attr:capacity>=" at column 16', 16,
     "attr:capacity>="),
    ("status:", 'Expected a value after "status:" at column 1', 1, "status:"),
    ("x status:sleeping", 'Unknown status "sleeping" at column 10: use online, offline, inactive or disabled',
     10, "sleeping"),
    ("type:robot", 'Unknown asset type "robot" at column 6: use device, gateway or sub_device', 6, "robot"),
    ("has:wings", 'Unknown "has:wings" at column 5: use has:sub_devices', 5, "wings"),
    ("group:", 'Expected a value after "group:" at column 1', 1, "group:"),
    ("tag:", 'Expected a tag key after "tag:" at column 1', 1, "tag:"),
    ("tag:a%b", '"a%b" at column 5 is not a tag key (1 to 50 letters, digits, _ - or /)', 5, "a%b"),
    ("tag:site=", 'Expected a value after "tag:site=" at column 1', 1, "tag:site="),
    ("tag:site in (a b)", 'Expected "," or ")" in the list of tag values at column 16, found "b)"', 16, "b)"),
    ("tag:site in (a,", 'Expected a value after "tag:site in (a," at column 1', 1, "tag:site in (a,"),
    ("attr:", 'Expected an attribute name after "attr:" at column 1', 1, "attr:"),
    ("attr:capacity", 'Expected a comparison (=, !=, <, <=, >, >=) after "attr:capacity" at column 1', 1,
     "attr:capacity"),
    ("attr:capacity 5", 'Expected a comparison (=, !=, <, <=, >, >=) after "attr:capacity" at column 1', 1,
     "attr:capacity"),
    ("activated", 'Expected <, <=, > or >= after "activated" at column 1', 1, "activated"),
    ("a last_online=7d", 'Expected <, <=, > or >= after "last_online" at column 3', 3, "last_online"),
    ("last_online<", 'Expected a value after "last_online<" at column 1', 1, "last_online<"),
    ("last_offline>7y", '"7y" at column 14 is not a time: use 7d, 24h, 30m, 2026-12-01 or 2026-12-01T08:00:00Z',
     14, "7y"),
    ("activated<2026-13-01", '"2026-13-01" at column 11 is not a time: use 7d, 24h, 30m, 2026-12-01 or '
     "2026-12-01T08:00:00Z", 11, "2026-13-01"),
    ('name:"pump', "The quote at column 6 is never closed", 6, '"pump'),
    ('a "" b', "Empty quotes at column 3: put the text to search between them", 3, '""'),
    ("(a OR b", 'The "(" at column 1 is never closed: add ")"', 1, "("),
    ("a OR b)", 'Unexpected ")" at column 7: no "(" opens it', 7, ")"),
    (")", 'Unexpected ")" at column 1: no "(" opens it', 1, ")"),
    ("()", 'Expected a term after "(" at column 1', 1, "("),
    ("AND a", 'Expected a term before "AND" at column 1', 1, "AND"),
    ("or a", 'Expected a term before "or" at column 1', 1, "or"),
    ("a AND", 'Expected a term after "AND" at column 3', 3, "AND"),
    ("a OR OR b", 'Expected a term after "OR" at column 3', 3, "OR"),
    ("a AND OR b", 'Expected a term after "AND" at column 3', 3, "AND"),
    ("NOT", 'Expected a term after "NOT" at column 1', 1, "NOT"),
    ("(a NOT)", 'Expected a term after "NOT" at column 4', 4, "NOT"),
])
def test_each_error_names_the_token_and_its_column(query, message, column, token):
    error = error_of(query)
    assert (error.message, error.column, error.token) == (message, column, token)
    assert error.as_dict() == {"message": message, "position": column, "token": token}


def test_limits_keep_a_query_small():
    assert "too long" in error_of("a " * 1001).message
    assert "too many terms" in error_of(" ".join(f"w{i}" for i in range(51))).message
    assert "nests too deeply" in error_of("(" * 21 + "a" + ")" * 21).message
    assert "nests too deeply" in error_of("NOT " * 21 + "a").message
    assert shape(parse("(" * 20 + "a" + ")" * 20)) == "a"

