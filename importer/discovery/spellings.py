"""Spellings of operating systems and products that the parsers' own patterns do not read.

data/spellings.csv has one row per spelling, with the columns:
    spelling  words as they occur in exports, case aside ("linux oracle", "11i v3"); between its
              words the text may have spaces, hyphens, underscores or slashes, or nothing
    family    the family the spelling names (an os_parse or product_parse family, or "other":
              recognised, and deliberately not assessed)
    version   the release the spelling names by itself ("11i v3" is HP-UX 11.31), or empty when
              the release is read from the text around it or the version column
    seen_in   where the spelling comes from (tool and field, or the product's own output):
              mandatory, so that every spelling can be traced
Rows are in order of precedence: where several spellings occur in a text, the first row wins
("aurora" before "mysql": "aurora-mysql" is Aurora's, not MySQL's).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources

_COLUMNS = ("spelling", "family", "version", "seen_in")
# Between the words of a spelling: "HP-UX 11iv3", "linux_oracle", "MS-SQL".
_BETWEEN_WORDS = r"[\s_/-]*"


@dataclass(frozen=True)
class Spelling:
    text: str
    family: str
    version: str | None
    pattern: re.Pattern[str]

    def find(self, text: str) -> re.Match[str] | None:
        return self.pattern.search(text)


def spellings_of(families: Iterable[str]) -> tuple[Spelling, ...]:
    """The shipped spellings of these families, in order of precedence."""
    wanted = frozenset(families)
    return tuple(spelling for spelling in shipped() if spelling.family in wanted)


@cache
def shipped() -> tuple[Spelling, ...]:
    path = resources.files(__package__) / "data" / "spellings.csv"
    return from_csv(path.read_text(encoding="utf-8"))


def from_csv(text: str) -> tuple[Spelling, ...]:
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != _COLUMNS:
        raise ValueError(f"spellings columns must be {', '.join(_COLUMNS)}")
    spellings = []
    # Line numbers count the header, as an editor shows them.
    for line, row in enumerate(reader, start=2):
        if None in row:
            raise ValueError(f"spellings line {line} has more cells than columns")
        spelling, family, version, seen_in = ((row.get(c) or "").strip() for c in _COLUMNS)
        if not spelling or not family:
            raise ValueError(f"spellings line {line} needs a spelling and a family")
        if not seen_in:
            raise ValueError(f"spellings line {line} needs where the spelling is seen")
        spellings.append(Spelling(spelling, family, version or None, _pattern(spelling)))
    return tuple(spellings)


def _pattern(spelling: str) -> re.Pattern[str]:
    words = _BETWEEN_WORDS.join(re.escape(word) for word in spelling.split())
    return re.compile(rf"(?<![a-z0-9]){words}(?![a-z0-9])", re.I)
