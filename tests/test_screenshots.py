"""The README's console screenshots are kept current: scripts/screenshots.py records the digest of the
files that shape the pictured page, and this test fails once they change without new pictures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def screenshots_script():
    spec = importlib.util.spec_from_file_location("screenshots", REPO / "scripts" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_shows_both_screenshots() -> None:
    script = screenshots_script()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in script.LANGUAGES.values():
        picture = script.OUTPUT / name
        assert picture.read_bytes().startswith(b"\x89PNG"), f"{picture} is not a PNG"
        assert f"docs/screenshots/{name}" in readme, f"README.md does not show {name}"


def test_the_screenshots_are_newer_than_the_pages_they_show() -> None:
    script = screenshots_script()
    assert script.shaping_files(), "SHAPING matches no file"
    assert script.recorded_digest() == script.sources_digest(), (
        "the device list's templates, styles or catalogs changed since the README's screenshots were taken: "
        "run `.venv/bin/python scripts/screenshots.py` and commit docs/screenshots/")


def test_the_digest_follows_a_shaping_file(tmp_path: Path, monkeypatch) -> None:
    script = screenshots_script()
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "base.html").write_text("<p>one</p>")
    monkeypatch.setattr(script, "REPO", tmp_path)
    before = script.sources_digest()
    (tmp_path / "templates" / "base.html").write_text("<p>two</p>")
    assert script.sources_digest() != before
