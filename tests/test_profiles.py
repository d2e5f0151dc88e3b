"""Tool profiles against a corpus of exports in their documented layouts (tests/corpus)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from importer.canonical import get_schema
from importer.discovery.os_parse import OS_FAMILIES
from importer.discovery.profiles import Profile, header_key, profiles, recognise

CORPUS = Path(__file__).parent / "corpus"
INVENTORY_KEYS = {
    "hostname_key",
    "memory_gb",
    "cpu_cores",
    "disk_gb",
    "os_family",
    "os_version",
    "primary_ip",
    "past_end_of_support",
}

PROFILES = profiles()
IDS = [p.id for p in PROFILES]


def corpus_header(profile: Profile) -> list[str]:
    with (CORPUS / f"{profile.id}.csv").open(newline="", encoding="utf-8") as file:
        return next(csv.reader(file))


def documented(profile: Profile) -> set[str]:
    """The layout's own columns: not those its companion sheets add to a workbook's rows."""
    joined = {
        header_key(companion.joined(column))
        for companion in profile.companions
        for column in companion.columns
    }
    return {header_key(c.header) for c in profile.columns} - joined | {
        header_key(h) for h in profile.ignore
    }


def test_there_are_profiles_for_each_import_type_with_a_tool_export() -> None:
    assert {p.import_type for p in PROFILES} == {"servers", "dependencies"}
    assert len(IDS) == len(set(IDS))


@pytest.mark.parametrize("profile", PROFILES, ids=IDS)
def test_profile_cites_https_documentation_and_has_a_fingerprint(profile: Profile) -> None:
    assert profile.sources
    assert all(source.startswith("https://") for source in profile.sources)
    assert profile.fingerprint
    # A fingerprint names documented columns, or no export of the layout could have them.
    assert {header_key(h) for h in profile.fingerprint} <= documented(profile)


@pytest.mark.parametrize("profile", PROFILES, ids=IDS)
def test_each_documented_header_is_mapped_or_ignored_once(profile: Profile) -> None:
    headers = [header_key(c.header) for c in profile.columns]
    headers += [header_key(h) for h in profile.ignore]
    assert len(headers) == len(set(headers))


@pytest.mark.parametrize("profile", PROFILES, ids=IDS)
def test_size_columns_say_their_unit(profile: Profile) -> None:
    schema = get_schema(profile.import_type)
    for column in profile.columns:
        if schema.field(column.field).unit is None:
            assert column.unit is None and column.unit_column is None, column
            continue
        assert (column.unit is None) != (column.unit_column is None), column
        if column.unit_column is not None:
            # The sibling column is a documented one, and never guessed as a field itself.
            assert profile.ignores(column.unit_column), column


@pytest.mark.parametrize("profile", PROFILES, ids=IDS)
def test_the_corpus_file_is_recognised_as_its_own_layout(profile: Profile) -> None:
    assert recognise(profile.import_type, corpus_header(profile)) is profile


@pytest.mark.parametrize("profile", PROFILES, ids=IDS)
def test_the_corpus_file_has_every_documented_column(profile: Profile) -> None:
    header = corpus_header(profile)
    assert len(header) == len(set(header))
    assert documented(profile) <= {header_key(h) for h in header}


@pytest.mark.parametrize("profile", PROFILES, ids=IDS)
def test_no_other_layout_is_mistaken_for_this_one(profile: Profile) -> None:
    headers = {header_key(h) for h in corpus_header(profile)}
    for other in PROFILES:
        if other is profile or not other.matches(headers):
            continue
        # Only a layout this one extends may match: ServiceNow's Server class extends its
        # Computer class, so a server export has every computer column. Recognition then
        # still picks the layout that knows the whole file (tested above).
        assert documented(other) <= headers, f"{profile.id} matches {other.id}"
        assert documented(other) < documented(profile), f"{profile.id} matches {other.id}"


@pytest.mark.parametrize("profile", PROFILES, ids=IDS)
def test_the_expected_inventory_is_well_formed(profile: Profile) -> None:
    expected = json.loads((CORPUS / f"{profile.id}.expected.json").read_text(encoding="utf-8"))
    if profile.import_type == "dependencies":
        edges = expected["edges"]
        assert edges and len({tuple(edge) for edge in edges}) == len(edges)
        assert all(isinstance(port, int) for _, _, port in edges)
        return
    keys = [entry["hostname_key"] for entry in expected]
    assert len(keys) == len(set(keys))
    with (CORPUS / f"{profile.id}.csv").open(newline="", encoding="utf-8") as file:
        rows = sum(1 for _ in csv.reader(file)) - 1
    assert 25 <= rows <= 60 and len(expected) <= rows
    for entry in expected:
        assert set(entry) == INVENTORY_KEYS
        assert entry["hostname_key"] == entry["hostname_key"].lower()
        assert entry["os_family"] is None or entry["os_family"] in OS_FAMILIES
        assert entry["past_end_of_support"] in (True, False, None)


def test_a_filled_in_template_without_its_optional_columns_is_still_recognised() -> None:
    columns = ["ExternalId", "HostName", "IPAddress", "RAM.TotalSizeInMB", "CPU.NumberOfCores"]
    profile = recognise("servers", columns)
    assert profile is not None and profile.id == "aws-migration-hub-import"
    assert profile.column("RAM.TotalSizeInMB").unit == "MB"
