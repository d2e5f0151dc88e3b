"""Suggest which canonical field each uploaded column maps onto."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from rapidfuzz import fuzz, process

from importer.canonical import CanonicalSchema
from importer.discovery.units import header_unit

if TYPE_CHECKING:
    from importer.discovery.profiles import Profile

MatchType = Literal["profile", "exact", "synonym", "fuzzy", "unmapped"]

EXACT_CONFIDENCE = 1.0
# A tool's documented layout is trusted over its header words, and still shown for review.
PROFILE_CONFIDENCE = 0.98
SYNONYM_CONFIDENCE = 0.95
# Scales fuzzy scores so that even a perfect fuzzy score ranks below a synonym.
FUZZY_WEIGHT = 0.9

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z]{2})")
_SEPARATORS = re.compile(r"[\W_]+")


def normalise_header(text: str) -> str:
    """``"RAM (GB)"`` -> ``"ram gb"``, ``"hostName"`` -> ``"host name"``."""
    text = _CAMEL_BOUNDARY.sub(" ", text.strip())
    # Spelled out so "CPU %" (utilisation) does not collapse into "cpu" (core count).
    text = text.replace("%", " percent ").replace("#", " number ")
    return " ".join(_SEPARATORS.sub(" ", text.casefold()).split())


@dataclass(frozen=True)
class MappingSuggestion:
    source_column: str
    target_field: str | None
    confidence: float
    match_type: MatchType
    unit: str | None = None
    unit_column: str | None = None


@dataclass(frozen=True)
class _Candidate:
    confidence: float
    column_index: int
    field_index: int
    field: str
    match_type: MatchType


class FieldMappingSuggester:
    def __init__(self, schema: CanonicalSchema, fuzzy_threshold: float = 0.8) -> None:
        self._fields = [spec.name for spec in schema.fields]
        self._combined = {spec.name: spec.combine != "one" for spec in schema.fields}
        self._units = {spec.name: spec.unit is not None for spec in schema.fields}
        self._threshold = fuzzy_threshold
        # Exact keys go in first so a synonym can never shadow a field name.
        self._lookup: dict[str, tuple[str, MatchType, float]] = {}
        for spec in schema.fields:
            for key in _keys(normalise_header(spec.name)):
                self._lookup.setdefault(key, (spec.name, "exact", EXACT_CONFIDENCE))
        self._choices: list[str] = []
        self._choice_fields: list[str] = []
        for spec in schema.fields:
            for spelling in (spec.name, *spec.synonyms):
                normalised = normalise_header(spelling)
                for key in _keys(normalised):
                    self._lookup.setdefault(key, (spec.name, "synonym", SYNONYM_CONFIDENCE))
                self._choices.append(normalised)
                self._choice_fields.append(spec.name)

    def suggest(
        self, columns: Sequence[str], profile: Profile | None = None
    ) -> list[MappingSuggestion]:
        """Each column's field; a recognised tool layout maps the columns it documents."""
        candidates = [
            candidate
            for index, column in enumerate(columns)
            for candidate in self._candidates(index, column, profile)
        ]
        # Greedy over all (column, field) pairs, best first: a column that loses its
        # favourite field to a stronger column still gets its next best free one.
        candidates.sort(key=lambda c: (-c.confidence, c.column_index, c.field_index))
        chosen: dict[int, _Candidate] = {}
        taken: set[str] = set()
        for candidate in candidates:
            if candidate.column_index in chosen:
                continue
            # A layout may put one field in several columns (disks to add up, two OS columns).
            shared = candidate.match_type == "profile" and self._combined[candidate.field]
            if candidate.field in taken and not shared:
                continue
            chosen[candidate.column_index] = candidate
            taken.add(candidate.field)
        suggestions = []
        for index, column in enumerate(columns):
            match = chosen.get(index)
            if match is None:
                suggestions.append(MappingSuggestion(column, None, 0.0, "unmapped"))
                continue
            documented = profile.column(column) if match.match_type == "profile" else None
            unit = documented.unit if documented else None
            if (
                unit is None
                and self._units[match.field]
                and not (documented and documented.unit_column)
            ):
                unit = header_unit(column)
            suggestions.append(
                MappingSuggestion(
                    column,
                    match.field,
                    match.confidence,
                    match.match_type,
                    unit=unit,
                    unit_column=documented.unit_column if documented else None,
                )
            )
        return suggestions

    def contested(self, columns: Sequence[str]) -> dict[str, list[str]]:
        """Fields that two or more columns' headers name plainly: field → those columns."""
        claims: dict[str, list[str]] = {}
        for index, column in enumerate(columns):
            for candidate in self._candidates(index, column, None):
                if candidate.match_type in ("exact", "synonym"):
                    claims.setdefault(candidate.field, []).append(column)
        return {field: names for field, names in claims.items() if len(names) > 1}

    def _candidates(
        self, column_index: int, column: str, profile: Profile | None
    ) -> list[_Candidate]:
        header = normalise_header(column)
        if not header:
            return []
        if profile is not None:
            documented = profile.column(column)
            if documented is not None:
                field_index = self._fields.index(documented.field)
                return [
                    _Candidate(
                        PROFILE_CONFIDENCE, column_index, field_index, documented.field, "profile"
                    )
                ]
            if profile.ignores(column):
                return []
        best: dict[str, tuple[float, MatchType]] = {}
        # "RAM (MB)" is the "RAM" of a size field, in MB.
        bare = _without_unit(header)
        spellings = [(key, False) for key in _keys(header)]
        spellings += [(key, True) for key in _keys(bare) if bare and bare != header]
        for key, unit_stripped in spellings:
            if key in self._lookup:
                field, match_type, confidence = self._lookup[key]
                if unit_stripped and not self._units[field]:
                    continue
                if confidence > best.get(field, (0.0,))[0]:
                    best[field] = (confidence, match_type)
        # token_sort_ratio rather than WRatio: WRatio's partial matching gives 90 to any
        # header containing a short spelling ("Host ID", "Disk Used", "IP Type" all score
        # 90), while token_sort_ratio still tolerates typos and reordered words.
        # extract (not extractOne) because a column that loses its best field in a
        # conflict needs its runners-up. The threshold applies to the weighted
        # confidence, so the raw cutoff is only a cheap prefilter.
        matches = process.extract(
            header,
            self._choices,
            scorer=fuzz.token_sort_ratio,
            score_cutoff=self._threshold * 100,
            limit=None,
        )
        for _, score, choice_index in matches:
            field = self._choice_fields[choice_index]
            confidence = round(score / 100 * FUZZY_WEIGHT, 3)
            if confidence >= self._threshold and confidence > best.get(field, (0.0,))[0]:
                best[field] = (confidence, "fuzzy")
        return [
            _Candidate(confidence, column_index, self._fields.index(field), field, match_type)
            for field, (confidence, match_type) in best.items()
        ]


_UNIT_WORDS = re.compile(r"(?:\s+in)?\s+(?:[kmgtp]i?b|bytes?)$")


def _without_unit(normalised: str) -> str:
    """``"memory in mb"`` -> ``"memory"``: the header without the unit it ends with."""
    return _UNIT_WORDS.sub("", normalised)


def _keys(normalised: str) -> tuple[str, str]:
    """The spelling as is and without spaces, so "host_name" matches "hostname"."""
    return normalised, normalised.replace(" ", "")
