import pytest

from importer.canonical import CanonicalSchema, FieldSpec, get_schema
from importer.services.mapping_suggester import (
    FieldMappingSuggester,
    MappingSuggestion,
    normalise_header,
)


def suggest_one(column: str, import_type: str = "servers") -> MappingSuggestion:
    [suggestion] = FieldMappingSuggester(get_schema(import_type)).suggest([column])
    return suggestion


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("RAM (GB)", "ram gb"),
        ("Memory [GB]", "memory gb"),
        ("  Host_Name ", "host name"),
        ("hostName", "host name"),
        ("IPAddress", "ip address"),
        ("OSVersion", "os version"),
        ("# of CPUs", "number of cpus"),
        ("CPU %", "cpu percent"),
        ("ip.addr--primary", "ip addr primary"),
        ("Column1", "column1"),
    ],
)
def test_normalise_header(header: str, expected: str) -> None:
    assert normalise_header(header) == expected


@pytest.mark.parametrize(
    ("column", "target"),
    [
        ("hostname", "hostname"),
        ("Hostname", "hostname"),
        ("HostName", "hostname"),
        ("host_name", "hostname"),
        ("Host Name", "hostname"),
        ("CPU Cores", "cpu_cores"),
        ("Disk (GB)", "disk_gb"),
        ("Memory (GB)", "memory_gb"),
        ("Environment", "environment"),
        ("Owner", "owner"),
        ("IPAddress", "ip_address"),
        ("Serial #", "serial_number"),
    ],
)
def test_exact_matches(column: str, target: str) -> None:
    suggestion = suggest_one(column)
    assert (suggestion.target_field, suggestion.confidence, suggestion.match_type) == (
        target,
        1.0,
        "exact",
    )


@pytest.mark.parametrize(
    ("column", "target", "import_type"),
    [
        ("IP Addr", "ip_address", "servers"),
        ("RAM (GB)", "memory_gb", "servers"),
        ("Operating System", "os_name", "servers"),
        ("Env", "environment", "servers"),
        ("Serial No", "serial_number", "servers"),
        ("Depends On", "dependencies", "servers"),
        ("# of CPUs", "cpu_cores", "servers"),
        ("vCPUs", "cpu_cores", "servers"),
        ("Is VM?", "is_virtual", "servers"),
        ("Server Name", "hostname", "servers"),
        ("Application Name", "name", "applications"),
        ("Hosted On", "hosts", "applications"),
        ("Hostname", "host", "databases"),
        ("DB Engine", "engine", "databases"),
    ],
)
def test_synonym_matches(column: str, target: str, import_type: str) -> None:
    suggestion = suggest_one(column, import_type)
    assert (suggestion.target_field, suggestion.confidence, suggestion.match_type) == (
        target,
        0.95,
        "synonym",
    )


@pytest.mark.parametrize(
    ("column", "target"),
    [
        ("Hostnme", "hostname"),
        ("Operating Sytem", "os_name"),
        ("Memmory GB", "memory_gb"),
        ("Enviroment", "environment"),
        ("Manufactuer", "manufacturer"),
        ("Serial Numbr", "serial_number"),
    ],
)
def test_fuzzy_matches_misspellings(column: str, target: str) -> None:
    suggestion = suggest_one(column)
    assert suggestion.target_field == target
    assert suggestion.match_type == "fuzzy"
    assert 0.8 <= suggestion.confidence < 0.9
    assert suggestion.confidence == round(suggestion.confidence, 3)


@pytest.mark.parametrize(
    "column",
    ["Notes", "Comments", "Column1", "zzz", "", "   ", "CPU %", "Power", "Host Type", "Uptime"],
)
def test_junk_is_unmapped(column: str) -> None:
    assert suggest_one(column) == MappingSuggestion(column, None, 0.0, "unmapped")


def test_fuzzy_threshold_is_on_the_reported_confidence() -> None:
    schema = get_schema("servers")
    # "Ownr" scores 88.9 against "owner": 0.8 once weighted.
    [strict] = FieldMappingSuggester(schema, fuzzy_threshold=0.81).suggest(["Ownr"])
    [lenient] = FieldMappingSuggester(schema, fuzzy_threshold=0.8).suggest(["Ownr"])
    assert strict.match_type == "unmapped"
    assert (lenient.target_field, lenient.confidence, lenient.match_type) == ("owner", 0.8, "fuzzy")


def test_realistic_header_maps_in_column_order() -> None:
    columns = [
        "Host Name",
        "IP Addr",
        "Operating System",
        "CPU Cores",
        "RAM (GB)",
        "Disk (GB)",
        "Env",
        "Owner",
        "Serial No",
        "Depends On",
        "Notes",
    ]
    suggestions = FieldMappingSuggester(get_schema("servers")).suggest(columns)
    assert [s.source_column for s in suggestions] == columns
    assert [s.target_field for s in suggestions] == [
        "hostname",
        "ip_address",
        "os_name",
        "cpu_cores",
        "memory_gb",
        "disk_gb",
        "environment",
        "owner",
        "serial_number",
        "dependencies",
        None,
    ]


def test_conflict_higher_confidence_wins_even_when_later() -> None:
    suggestions = FieldMappingSuggester(get_schema("servers")).suggest(["Server", "Hostname"])
    assert suggestions == [
        MappingSuggestion("Server", None, 0.0, "unmapped"),
        MappingSuggestion("Hostname", "hostname", 1.0, "exact"),
    ]


def test_conflict_tie_goes_to_earlier_column() -> None:
    suggestions = FieldMappingSuggester(get_schema("servers")).suggest(["RAM", "Memory", "Env"])
    assert [(s.target_field, s.match_type) for s in suggestions] == [
        ("memory_gb", "synonym"),
        (None, "unmapped"),
        ("environment", "synonym"),
    ]


def test_each_target_is_assigned_once() -> None:
    columns = ["Hostname", "Host Name", "host_name", "Server", "Hostnme"]
    suggestions = FieldMappingSuggester(get_schema("servers")).suggest(columns)
    targets = [s.target_field for s in suggestions if s.target_field is not None]
    assert targets == ["hostname"]
    assert suggestions[0].target_field == "hostname"


def test_conflict_loser_falls_back_to_next_best_target() -> None:
    schema = CanonicalSchema(
        "things",
        (FieldSpec("hostname", "hostname"), FieldSpec("hostnames", "list")),
    )
    suggestions = FieldMappingSuggester(schema).suggest(["Host Name", "Hostname"])
    assert suggestions[0] == MappingSuggestion("Host Name", "hostname", 1.0, "exact")
    # "hostname" vs "hostnames" scores 94.1: weighted 0.847.
    assert suggestions[1] == MappingSuggestion("Hostname", "hostnames", 0.847, "fuzzy")


def test_conflict_fallback_on_real_schema_with_lower_threshold() -> None:
    suggester = FieldMappingSuggester(get_schema("servers"), fuzzy_threshold=0.7)
    first, second = suggester.suggest(["OS", "Operating System"])
    assert (first.target_field, first.match_type) == ("os_name", "synonym")
    assert (second.target_field, second.match_type) == ("os_version", "fuzzy")
    assert 0.7 <= second.confidence < first.confidence


def test_duplicate_columns_map_once() -> None:
    suggestions = FieldMappingSuggester(get_schema("servers")).suggest(["Owner", "Owner"])
    assert [s.target_field for s in suggestions] == ["owner", None]


@pytest.mark.parametrize(
    ("column", "target", "unit"),
    [
        ("RAM (MB)", "memory_gb", "MB"),
        ("Memory (In MB)", "memory_gb", "MB"),
        ("RAM.TotalSizeInMB", "memory_gb", "MB"),
        ("Disk (GB)", "disk_gb", "GB"),
        ("Memory", "memory_gb", None),
        ("CPU Cores", "cpu_cores", None),
    ],
)
def test_a_size_column_takes_its_unit_from_the_header(
    column: str, target: str, unit: str | None
) -> None:
    suggestion = suggest_one(column)
    assert (suggestion.target_field, suggestion.unit) == (target, unit)


def test_columns_whose_headers_both_name_a_field_are_contested() -> None:
    suggester = FieldMappingSuggester(get_schema("servers"))
    contested = suggester.contested(["Server Name", "VM", "Host", "Memory", "CPUs"])
    assert contested == {"hostname": ["Server Name", "Host"]}
