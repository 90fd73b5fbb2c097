"""The Simplified Chinese catalog of the console templates is complete, current and compiled."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

from tests.i18n.catalogs import Message, catalog_problems, compiled_form, read_mo, read_po, template_messages

TEMPLATES = Path(settings.BASE_DIR) / "templates"
CATALOG = Path(settings.BASE_DIR) / "locale" / "zh_Hans" / "LC_MESSAGES"
CHINESE_PLURAL_FORMS = 1  # one form for every number


def messages_of_the_templates() -> set[Message]:
    # what scripts/messages.sh gives makemessages for the project catalog: the .html and .txt templates
    paths = [path for path in TEMPLATES.rglob("*") if path.suffix in (".html", ".txt")]
    return set().union(*(template_messages(path.read_text()) for path in paths))


def test_the_templates_messages_are_found():
    messages = messages_of_the_templates()
    assert Message("Device Assets") in messages
    assert Message("ok", context="trace log outcome") in messages
    assert Message("%(counter)s device matches.", "%(counter)s devices match.") in messages
    assert Message("Not activated") in messages  # given to a filter as _("…")
    assert len(messages) > 300


def test_the_chinese_catalog_translates_every_template_message():
    problems = catalog_problems(messages_of_the_templates(), read_po(CATALOG / "django.po"),
                                read_mo(CATALOG / "django.mo"), CHINESE_PLURAL_FORMS)
    assert not problems, "\n".join(problems)


def test_django_answers_from_the_catalog():
    with translation.override("zh-hans"):
        assert translation.gettext("Device Assets") == "设备资产"
        assert translation.pgettext("trace log outcome", "ok") == "成功"
        assert translation.ngettext("%(counter)s device", "%(counter)s devices", 5) % {"counter": 5} == "5 个设备"
    with translation.override("en"):
        assert translation.gettext("Device Assets") == "Device Assets"


# --- the check itself ------------------------------------------------------------------------------

GOOD_PO = r'''# a comment
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=1; plural=0;\n"

#: templates/a.html
msgid "Device Assets"
msgstr "设备资产"

#: templates/a.html
#, python-format
msgid "%(counter)s device"
msgid_plural "%(counter)s devices"
msgstr[0] "%(counter)s 个设备"

msgctxt "trace log outcome"
msgid "ok"
msgstr "成功"

msgid ""
"A long message "
"on two lines"
msgstr ""
"一条长"
"消息"
'''
GOOD_MESSAGES = {Message("Device Assets"), Message("%(counter)s device", "%(counter)s devices"),
                 Message("ok", context="trace log outcome"), Message("A long message on two lines")}


def _problems(tmp_path: Path, po: str, messages: set[Message] = GOOD_MESSAGES, compiled_from: str = "") -> list[str]:
    (tmp_path / "django.po").write_text(po)
    (tmp_path / "compiled.po").write_text(compiled_from or po)
    compiled = compiled_form(read_po(tmp_path / "compiled.po"))
    return catalog_problems(messages, read_po(tmp_path / "django.po"), compiled, CHINESE_PLURAL_FORMS)


def test_a_good_catalog_passes(tmp_path):
    (tmp_path / "django.po").write_text(GOOD_PO)
    entries = read_po(tmp_path / "django.po")
    assert {entry.message for entry in entries if entry.msgid} == GOOD_MESSAGES
    long = [entry.translations for entry in entries if entry.msgid == "A long message on two lines"]
    assert long == [{0: "一条长消息"}]
    assert _problems(tmp_path, GOOD_PO) == []


@pytest.mark.parametrize(("change", "problem"), [
    (lambda po: po, "not in the catalog: 'Log in'"),
    (lambda po: po.replace('msgstr "成功"', 'msgstr ""'), "untranslated: 'trace log outcome\\x04ok'"),
    (lambda po: po.replace('#: templates/a.html\nmsgid "Device', '#, fuzzy\nmsgid "Device'),
     "fuzzy entry: 'Device Assets'"),
    (lambda po: po + '\n#~ msgid "Gone"\n#~ msgstr "走了"\n', "obsolete entry: 'Gone'"),
    (lambda po: po.replace('个设备"', '个设备"\nmsgstr[1] "%(counter)s 个设备"'),
     "2 translations of '%(counter)s device', 1 expected"),
])
def test_a_bad_catalog_is_refused(tmp_path, change, problem):
    messages = GOOD_MESSAGES | {Message("Log in")} if "Log in" in problem else GOOD_MESSAGES
    assert problem in _problems(tmp_path, change(GOOD_PO), messages)


def test_a_stale_compiled_catalog_is_refused(tmp_path):
    older = GOOD_PO.replace('msgstr "设备资产"', 'msgstr "设备"')
    [problem] = _problems(tmp_path, GOOD_PO, compiled_from=older)
    assert problem.startswith("the .mo is not the compiled .po") and "Device Assets" in problem
