"""The apps' own catalogs (Python strings, and the static scripts' gettext() strings) are complete and
current: extracting the strings again changes nothing, every entry has a Simplified Chinese translation
(none empty, none fuzzy), and each committed .mo is its .po compiled. The templates' strings live in the
root locale/ and never in an app's catalog.

Needs GNU gettext's tools (msgfmt, xgettext, msgmerge), as makemessages does.
"""

from __future__ import annotations

import gettext
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

# every package of the project that INSTALLED_APPS names: a new app without its catalog fails below
APPS = tuple(sorted(app for app in settings.INSTALLED_APPS if "." not in app and (settings.BASE_DIR / app).is_dir()))
LANGUAGE = "zh_Hans"
CATALOGS = [(app, domain) for app in APPS for domain in ("django", "djangojs")
            if (settings.BASE_DIR / app / "locale" / LANGUAGE / "LC_MESSAGES" / f"{domain}.po").exists()]


def _po(root: Path, domain: str) -> Path:
    return root / "locale" / LANGUAGE / "LC_MESSAGES" / f"{domain}.po"


@contextmanager
def _inside(path: Path) -> Iterator[None]:
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _compiled(po: Path, out: Path) -> dict:
    """The catalog msgfmt makes of `po` (fuzzy and empty entries are left out, as at run time)."""
    subprocess.run(["msgfmt", "--check", "-o", str(out), str(po)], check=True, capture_output=True)
    with out.open("rb") as mo:
        return gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]


def _statistics(po: Path) -> str:
    run = subprocess.run(["msgfmt", "--statistics", "-o", os.devnull, str(po)], capture_output=True, text=True)
    return run.stderr.strip()


def test_every_app_with_strings_has_its_catalog():
    assert {app for app, domain in CATALOGS if domain == "django"} == set(APPS)
    assert ("enos_portal", "djangojs") in CATALOGS  # portal.js's copy button


@pytest.mark.parametrize(("app", "domain"), CATALOGS, ids=[f"{a}-{d}" for a, d in CATALOGS])
def test_the_catalog_is_complete_and_current(app, domain, tmp_path):
    copy = tmp_path / app
    shutil.copytree(settings.BASE_DIR / app, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    committed = _compiled(_po(settings.BASE_DIR / app, domain), tmp_path / "committed.mo")
    with _inside(copy):
        call_command("makemessages", locale=[LANGUAGE], domain=domain, no_obsolete=True, verbosity=0)
    regenerated = _po(copy, domain)
    statistics = _statistics(regenerated)
    # a new string is untranslated, a changed one fuzzy: either shows here
    assert "untranslated" not in statistics and "fuzzy" not in statistics, (
        f"{app} {domain}: {statistics}; run scripts/messages.sh and translate the new entries")
    assert _compiled(regenerated, tmp_path / "regenerated.mo") == committed, (
        f"{app} {domain}: the catalog is not current (a string was added or removed); run scripts/messages.sh")
    assert len(committed) > 1  # the header and at least one message


@pytest.mark.parametrize(("app", "domain"), CATALOGS, ids=[f"{a}-{d}" for a, d in CATALOGS])
def test_no_entry_is_empty_or_fuzzy(app, domain):
    po = _po(settings.BASE_DIR / app, domain)
    statistics = _statistics(po)
    assert statistics.endswith("translated messages.") or statistics.endswith("translated message."), statistics
    assert "," not in statistics, statistics  # "N translated messages, M fuzzy translations, …"
    assert "#, fuzzy" not in po.read_text(encoding="utf-8")


@pytest.mark.parametrize(("app", "domain"), CATALOGS, ids=[f"{a}-{d}" for a, d in CATALOGS])
def test_the_committed_mo_is_the_po_compiled(app, domain, tmp_path):
    po = _po(settings.BASE_DIR / app, domain)
    with po.with_suffix(".mo").open("rb") as mo:
        committed = gettext.GNUTranslations(mo)._catalog  # type: ignore[attr-defined]
    assert committed == _compiled(po, tmp_path / "fresh.mo"), f"{app} {domain}: run compilemessages"


@pytest.mark.parametrize(("app", "domain"), CATALOGS, ids=[f"{a}-{d}" for a, d in CATALOGS])
def test_no_template_string_is_in_an_app_catalog(app, domain):
    locations = [line for line in _po(settings.BASE_DIR / app, domain).read_text(encoding="utf-8").splitlines()
                 if line.startswith("#:")]
    assert locations and not [line for line in locations if ".html" in line or ".txt" in line]
