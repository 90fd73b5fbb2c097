"""POST /api/devices/search/ {"where": <tree>}: the structured query, built into the text parser's tree (one
compiler), its 400 body with a JSON pointer, OU isolation, paging."""

from __future__ import annotations

import pytest

from assets.query import parse, structured
from tests.assets.api.helpers import api_client_for, asset_ids

pytestmark = pytest.mark.django_db

WHERE_3 = {"and": [{"tag": "site", "op": "=", "value": "suzhou"}, {"attr": "capacity", "op": ">=", "value": 500},
                   {"field": "status", "op": "=", "value": "offline"}]}


def search(user, where, url="/api/devices/search/", **body):
    return api_client_for(user).post(url, {"where": where, **body})


def found(user, where, **body) -> set[str]:
    return asset_ids(search(user, where, **body))


def text_found(user, query) -> set[str]:
    return asset_ids(api_client_for(user).get("/api/devices/", {"query": query}))


@pytest.mark.parametrize(("where", "query"), [
    (WHERE_3, "tag:site=suzhou AND attr:capacity>=500 AND status:offline"),
    ({"or": [{"field": "has", "op": "=", "value": "sub_devices"}, {"field": "status", "value": "disabled"}]},
     "has:sub_devices OR status:disabled"),
    ({"and": [{"tag": "line"}, {"not": {"tag": "site", "op": "in", "value": ["suzhou", "wuxi"]}}]},
     "tag:line NOT tag:site in (suzhou, wuxi)"),
    ({"text": "Pump"}, "Pump"),
    ({"field": "name", "op": "contains", "value": "big"}, "name:big"),
    ({"attr": "sealed", "op": "=", "value": True}, "attr:sealed=true"),
    ({"field": "last_online", "op": "<", "value": "7d"}, "last_online<7d"),
    ({"field": "type", "value": "gateway"}, "type:gateway"),
])
def test_a_tree_finds_what_the_same_text_query_finds(fleet, viewer, where, query):
    assert found(viewer, where) == text_found(viewer, query)
    assert found(viewer, where)  # not vacuous


def test_the_tree_is_the_parsers_tree():
    tree = structured.build({"or": [{"field": "status", "value": "offline"},
                                    {"not": {"tag": "site", "value": "suzhou"}}]})
    text = parse("status:offline OR NOT tag:site=suzhou")
    assert type(tree) is type(text)
    assert [type(c).__name__ for c in tree.children] == [type(c).__name__ for c in text.children]
    assert tree.children[0].value == text.children[0].value == "offline"
    assert (tree.children[1].child.key, tree.children[1].child.values) == ("site", ("suzhou",))


def test_a_search_pages_as_the_list_does_and_may_name_one_ou(fleet, viewer, owner, globex):
    client = api_client_for(viewer)
    first = client.post("/api/devices/search/?pageSize=2", {"where": {"tag": "site"}})
    assert first.status_code == 200 and len(first.json()["results"]) == 2
    rest = client.post(first.json()["next"], {"where": {"tag": "site"}})
    seen = asset_ids(first) | asset_ids(rest)
    assert seen == text_found(viewer, "tag:site")
    assert found(viewer, {"tag": "site"}, ou=fleet["big"].ou.ou_id) == seen
    refused = search(viewer, {"tag": "site"}, ou=globex.ou_id)
    assert refused.status_code == 400 and "ou" in refused.json()["details"]


def test_an_empty_tree_finds_every_visible_device(fleet, viewer):
    assert found(viewer, {}) == text_found(viewer, "")


@pytest.mark.parametrize(("where", "pointer"), [
    ({"and": [{"field": "status", "value": "offline"}, {"field": "status", "value": "asleep"}]}, "/and/1/value"),
    ({"and": [{"tag": "site", "value": "suzhou"}, {"or": [{"attr": "slots", "op": ">=", "value": "lots"}]}]},
     "/and/1/or/0/value"),
    ({"and": []}, "/and"),
    ({"not": {"colour": "red"}}, "/not"),
    ({"field": "stat", "value": "x"}, "/field"),
    ({"attr": "nosuch", "op": "=", "value": 1}, "/attr"),
    ({"attr": "sealed", "op": ">", "value": True}, "/op"),
    ({"tag": "bad key!"}, "/tag"),
    ({"tag": "site", "op": "in", "value": "suzhou"}, "/value"),
    ({"field": "last_online", "op": "<", "value": "yesterday"}, "/value"),
    ({"text": "x", "extra": 1}, "/extra"),
    ([1, 2], ""),
    ({"field": "group", "value": "pumps"}, ""),
])
def test_a_bad_tree_is_a_400_with_a_pointer_to_the_node(fleet, viewer, where, pointer):
    response = search(viewer, where)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_query" and body["pointer"] == f"/where{pointer}"
    assert body["details"] == {"where": [body["message"]]}


def test_a_missing_tree_or_an_unknown_member_is_a_400(viewer):
    client = api_client_for(viewer)
    assert "where" in client.post("/api/devices/search/", {}).json()["details"]
    assert "colour" in client.post("/api/devices/search/", {"where": {}, "colour": 1}).json()["details"]
    assert client.post("/api/devices/search/", "{not json", content_type="application/json").status_code == 400


def test_anonymous_is_refused(fleet):
    assert api_client_for(None).post("/api/devices/search/", {"where": {}}).status_code == 401


def test_a_tree_never_reaches_another_ous_devices(fleet, viewer, outsider):
    globex = fleet["globex"].asset_id
    for where in ({"text": "big-1"}, {"tag": "secret"}, {"attr": "capacity", "op": ">=", "value": 500},
                  {"not": {"field": "status", "value": "online"}}):
        assert globex not in found(viewer, where), where
    assert found(outsider, {"and": [{"tag": "site", "value": "suzhou"},
                                    {"attr": "capacity", "op": ">=", "value": 500}]}) == {globex}


def test_the_depth_and_term_limits_hold(viewer):
    deep: dict = {"text": "x"}
    for _ in range(30):
        deep = {"not": deep}
    response = search(viewer, deep)
    assert response.status_code == 400 and response.json()["pointer"].startswith("/where/not/not")
    many = {"or": [{"text": f"t{n}"} for n in range(60)]}
    assert search(viewer, many).status_code == 400
