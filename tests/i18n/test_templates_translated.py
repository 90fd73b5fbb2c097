"""Every user-visible string of the console's templates is marked for translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.i18n.untranslated import ALLOWED_WORDS, untranslated_strings

TEMPLATES = Path(settings.BASE_DIR) / "templates"
TEMPLATE_FILES = sorted(path for path in TEMPLATES.rglob("*") if path.suffix in (".html", ".txt"))


def test_the_templates_are_found():
    assert len(TEMPLATE_FILES) > 40
    assert TEMPLATES / "base.html" in TEMPLATE_FILES


@pytest.mark.parametrize("path", TEMPLATE_FILES, ids=lambda path: str(path.relative_to(TEMPLATES)))
def test_no_template_has_untranslated_text(path: Path):
    found = untranslated_strings(path.read_text())
    assert not found, f"{path.relative_to(TEMPLATES)} has text not marked for translation:\n" + "\n".join(
        map(str, found))


@pytest.mark.parametrize(("template", "where", "text"), [
    ("<h1>Device Assets</h1>", "text", "Device Assets"),
    ("{% block title %}Log in{% endblock %}", "text", "…Log in…"),
    ('<input placeholder="Search name">', "attribute placeholder of <input>", "Search name"),
    ('<button title="Copy">⧉</button>', "attribute title of <button>", "Copy"),
    ('<nav aria-label="Pages"></nav>', "attribute aria-label of <nav>", "Pages"),
    ('<img alt="Logo" src="x.png">', "attribute alt of <img>", "Logo"),
    ('<input type="submit" value="Save">', "attribute value of <input>", "Save"),
    ('<a hx-confirm="Delete it?">…</a>', "attribute hx-confirm of <a>", "Delete it?"),
    ('<select><optgroup label="Shared">…</optgroup></select>', "attribute label of <optgroup>", "Shared"),
    ("Dear {{ name }}, your code is {{ code }}.", "text", "…Dear …, your code is …."),  # a plain-text template
    ('<td>{{ value|default:"Never" }}</td>', "literal argument", "Never"),
    ('{% include "x.html" with label="Created" %}', "literal argument", "Created"),
    ("{% if on %}On{% else %}{% translate 'Off' %}{% endif %}", "text", "…On…"),
    ("<p>{% translate 'Total' %}: {{ n }} devices</p>", "text", "…: … devices"),
    ("<p>&nbsp;Ready</p>", "text", "Ready"),
])
def test_the_check_finds_untranslated_text(template: str, where: str, text: str):
    found = untranslated_strings("{% load i18n %}" + template)
    assert [(item.where, item.text) for item in found] == [(where, text)]


def test_the_check_names_the_line():
    found = untranslated_strings('{% load i18n %}\n<p>{% translate "ok" %}</p>\n{% comment %}\nx\n{% endcomment %}\n'
                                 '<p>\n  Not wrapped</p>')
    assert [item.line for item in found] == [7]


@pytest.mark.parametrize("template", [
    "<h1>{% translate 'Device Assets' %}</h1>",
    "<p>{% blocktranslate count counter=n %}{{ counter }} device{% plural %}{{ counter }} devices"
    "{% endblocktranslate %}</p>",
    '<input placeholder="{% translate \'Search\' %}" aria-label="{% blocktranslate %}Select {{ name }}'
    '{% endblocktranslate %}">',
    '<td>{{ value|default:_("Never") }}</td>',
    "<p>{{ device.name }} · {{ device.device_key }} — 42 %</p>",
    "{# a comment that explains things #}<!-- an HTML comment --><br>",
    "{% comment %}Rows of the table, kept cheap.{% endcomment %}",
    '<script src="x.js"></script><style>p { color: red }</style>',
    "<p><code>thing.service.measurepoint.set</code></p>",
    '<input type="hidden" name="next" value="devices"><button value="save">{% translate "Save" %}</button>',
    '<div class="message error" data-status="failed" hx-target="closest tr"></div>',
    "<dt>productKey</dt><dt>OU</dt><span>(UTC)</span>",
])
def test_the_check_passes_translated_or_wordless_text(template: str):
    assert untranslated_strings("{% load i18n %}" + template) == []


def test_every_allowed_word_says_why():
    assert all(len(reason) > 10 for reason in ALLOWED_WORDS.values())
