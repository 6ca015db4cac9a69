"""Counts of the abuse suites (tests/test_abuse.py, tests/test_abuse_app.py) and the table their reports share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

_COUNTS = ("tried", "answered", "server_errors", "tracebacks", "leaks", "policy_breaks")


@dataclass
class Tally:
    tried: int = 0
    answered: int = 0  # inputs that got an answer (HTTP 200, exit 0, a reply line that is not a refusal)
    server_errors: int = 0
    tracebacks: int = 0
    leaks: int = 0
    policy_breaks: int = 0
    notes: list[str] = field(default_factory=list)  # what went wrong (first five), for the assertion and report
    remarks: list[str] = field(default_factory=list)  # what the report should say besides the counts

    def note(self, what: str) -> None:
        if len(self.notes) < 5:
            self.notes.append(what[:240])

    def broken(self, what: str) -> None:
        self.policy_breaks += 1
        self.note(what)

    def leaked(self, what: str) -> None:
        self.leaks += 1
        self.note(what)


class Tallies:
    """One Tally per section of a suite; the report is rewritten only when every section ran."""

    def __init__(self, sections: dict[str, str]):
        self.sections = sections
        self.by_section: dict[str, Tally] = {}

    def __call__(self, section: str) -> Tally:
        return self.by_section.setdefault(section, Tally())

    @property
    def complete(self) -> bool:
        return set(self.by_section) == set(self.sections)

    def table(self, first_column: str) -> list[str]:
        """The counts per section and their total, as Markdown table rows."""
        rows = [f"| {first_column} | inputs tried | answered | 5xx | tracebacks | leaks | policy breaks |",
                "|---|---|---|---|---|---|---|"]
        total = Tally()
        for key, title in self.sections.items():
            t = self.by_section[key]
            rows.append(f"| {title} | " + " | ".join(str(getattr(t, name)) for name in _COUNTS) + " |")
            for name in _COUNTS:
                setattr(total, name, getattr(total, name) + getattr(t, name))
        rows.append("| **total** | " + " | ".join(f"**{getattr(total, name)}**" for name in _COUNTS) + " |")
        return rows

    def lines(self, attribute: str) -> list[str]:
        """The notes or remarks of every section, each under its section's title."""
        return [f"- {self.sections[key]}: {line}" for key, t in self.by_section.items()
                for line in getattr(t, attribute)]


def report_fixture(tallies: Tallies, write: Callable[[], None]) -> Callable[..., Iterator[None]]:
    """The module fixture a suite assigns to `report`: after the module's tests, the committed report is rewritten,
    only when every section ran (a partial run would overwrite it with partial counts)."""

    @pytest.fixture(scope="module", autouse=True)
    def report() -> Iterator[None]:
        yield
        if tallies.complete:
            write()

    return report
