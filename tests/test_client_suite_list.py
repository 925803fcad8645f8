"""The README's "What differs" list is the expected-failures list of prometheus_client's own
suite (tests/client_suite/expected_failures.txt): the same reasons, with how many tests each."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).parent.parent
LIST = ROOT / "tests" / "client_suite" / "expected_failures.txt"


def listed() -> dict[str, str]:
    entries = {}
    for line in LIST.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        test_id, separator, reason = line.partition(" | ")
        assert separator and reason.strip(), f"no reason given: {line!r}"
        assert test_id not in entries, f"listed twice: {test_id}"
        entries[test_id] = reason.strip()
    return entries


def readme_reasons() -> Counter:
    text = (ROOT / "README.md").read_text()
    section = text.split("### What differs\n", 1)[1].split("\nBeyond what the suite sees:", 1)[0]
    reasons: Counter = Counter()
    for match in re.finditer(r"^- \((\d+)\) (.*(?:\n  .*)*)", section, re.M):
        reasons[" ".join(match.group(2).split())] = int(match.group(1))
    return reasons


def test_every_entry_has_a_test_id_and_a_reason() -> None:
    entries = listed()
    assert entries, "the list is empty: then the README section should say so"
    for test_id in entries:
        assert re.fullmatch(r"test_\w+\.py::[\w:\[\]\-.]+", test_id), test_id


def test_the_readme_lists_exactly_the_reasons_of_the_expected_failures() -> None:
    assert readme_reasons() == Counter(listed().values())


def test_the_readme_gives_the_suite_figure_the_list_implies() -> None:
    text = (ROOT / "README.md").read_text()
    passed, total = map(int, re.search(r"\*\*(\d+) of its\s+(\d+) tests pass\*\*", text).groups())
    skipped = int(re.search(r"(\d+) skip", text).group(1))
    assert total - passed - skipped == len(listed())
