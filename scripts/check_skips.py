#!/usr/bin/env python3
"""Fail when a test that should run was skipped: compares a pytest JUnit XML report with an allow-list.

    python3 scripts/check_skips.py report.xml .ci/expected-skips/sqlite.txt

The allow-list has one entry per line, `<test id pattern>  # why it skips here`; a test id is the
report's `classname::name` (e.g. `tests.accounts.test_throttle::test_keys_and_scopes_count_apart[redis]`),
and a pattern may use shell wildcards (`tests.assets.migration.test_concurrency::*`). Fails (status 1) when
a test skipped that no entry names, when an entry names no skipped test (the list must say what this
pass really skips, or it would hide the next unexpected skip), or when the report holds no test at all.
Standard library only.
"""

from __future__ import annotations

import fnmatch
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def read_allow_list(path: Path) -> list[str]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.append(entry)
    return entries


def read_report(path: Path) -> tuple[int, dict[str, str]]:
    """(tests run or skipped, {skipped test id: the skip's message})."""
    root = ElementTree.parse(path).getroot()
    total, skipped = 0, {}
    for case in root.iter("testcase"):
        total += 1
        skip = case.find("skipped")
        if skip is not None:
            skipped[f"{case.get('classname')}::{case.get('name')}"] = skip.get("message", "")
    return total, skipped


def main(report: str, allow_list: str) -> int:
    total, skipped = read_report(Path(report))
    entries = read_allow_list(Path(allow_list))
    if total == 0:
        print(f"check_skips: {report} holds no test", file=sys.stderr)
        return 1
    unexpected = {test: why for test, why in skipped.items()
                  if not any(fnmatch.fnmatchcase(test, entry) for entry in entries)}
    unused = [entry for entry in entries if not any(fnmatch.fnmatchcase(test, entry) for test in skipped)]
    for test, why in sorted(unexpected.items()):
        print(f"UNEXPECTED SKIP {test}: {why}", file=sys.stderr)
    for entry in unused:
        print(f"EXPECTED SKIP DID NOT HAPPEN (it ran, or is gone): {entry} — remove it from {allow_list}",
              file=sys.stderr)
    print(f"check_skips: {total} tests, {len(skipped)} skipped, all expected" if not (unexpected or unused)
          else f"check_skips: {len(unexpected)} unexpected skip(s), {len(unused)} stale entr(y/ies) in {allow_list}")
    return 1 if unexpected or unused else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
