import pytest

from importer.canonical import IMPORT_TYPES, get_schema
from importer.discovery.normalize import normalize_value
from importer.services.mapping_suggester import FieldMappingSuggester, normalise_header
from importer.services.record_validation import RecordValidator


def test_import_types() -> None:
    assert IMPORT_TYPES == ("servers", "applications", "databases", "dependencies")
    assert [get_schema(name).import_type for name in IMPORT_TYPES] == list(IMPORT_TYPES)


def test_unknown_import_type_raises_key_error() -> None:
    with pytest.raises(KeyError):
        get_schema("printers")


def test_required_fields() -> None:
    assert get_schema("servers").required_fields == ()
    assert get_schema("servers").required_one_of == (("hostname", "name", "fqdn"),)
    assert get_schema("applications").required_fields == ("name",)
    assert get_schema("databases").required_fields == ("name",)


@pytest.mark.parametrize("import_type", IMPORT_TYPES)
def test_a_column_named_as_a_field_maps_to_it_and_its_values_are_cleaned(import_type) -> None:
    """Each field is reachable by its own name, and has a type the cleansing and validation know."""
    schema = get_schema(import_type)
    suggester = FieldMappingSuggester(schema)
    for spec in schema.fields:
        [suggestion] = suggester.suggest([spec.name])
        assert (suggestion.target_field, suggestion.match_type) == (spec.name, "exact")
        assert normalize_value(spec.type, spec.name, "").outcome == "kept"
        # Built only when the validation knows the field's type (a KeyError otherwise).
        RecordValidator(schema, {spec.name: spec.name}, [spec.name])


def test_sizes_are_stored_in_gib_and_counts_are_never_negative() -> None:
    schema = get_schema("servers")
    sizes = [spec for spec in schema.fields if spec.unit is not None]
    assert {spec.name for spec in sizes} >= {"memory_gb", "disk_gb", "disks_gb"}
    for spec in sizes:
        assert spec.unit == "GiB"
        # 2048 MiB is 2 GiB, whatever the field; a list of sizes is each converted.
        if spec.type == "sizes":
            assert normalize_value(spec.type, spec.name, "2048; 4096", "MiB").value == [2, 4]
        else:
            assert (spec.type, spec.minimum) == ("number", 0)
            assert normalize_value(spec.type, spec.name, 2048, "MiB").value == 2
    for name in ("cpu_cores", "cpu_sockets", "cores_per_cpu", "disk_count", "memory_gb"):
        validator = RecordValidator(schema, {"n": name}, ["n"])
        [issue] = validator.validate(1, {"n": -1}, None)
        assert (issue.code, issue.field) == ("constraint-error", "n")


def test_application_and_database_fields() -> None:
    applications = get_schema("applications")
    assert [spec.name for spec in applications.fields] == [
        "name",
        "version",
        "owner",
        "business_unit",
        "criticality",
        "environment",
        "hosts",
        "dependencies",
        "technology",
        "description",
    ]
    assert applications.field("hosts").type == "list"
    databases = get_schema("databases")
    assert [spec.name for spec in databases.fields] == [
        "name",
        "engine",
        "version",
        "host",
        "port",
        "size_gb",
        "environment",
        "owner",
        "description",
    ]
    assert databases.field("host").type == "hostname"
    assert databases.field("port").type == "integer"
    assert databases.field("port").minimum == 0
    assert databases.field("size_gb").minimum == 0


def test_field_lookup_raises_key_error_for_unknown_field() -> None:
    with pytest.raises(KeyError):
        get_schema("servers").field("colour")


@pytest.mark.parametrize("import_type", IMPORT_TYPES)
def test_spellings_are_unambiguous(import_type: str) -> None:
    """No normalised spelling may point at two fields, or appear twice (a dead synonym)."""
    owners: dict[str, str] = {}
    compact_owners: dict[str, str] = {}
    for spec in get_schema(import_type).fields:
        for spelling in (spec.name, *spec.synonyms):
            key = normalise_header(spelling)
            assert key not in owners, f"{spelling!r} ({spec.name}) repeats {owners.get(key)}"
            owners[key] = spec.name
            compact = key.replace(" ", "")
            assert compact_owners.setdefault(compact, spec.name) == spec.name, spelling


def test_notes_is_not_a_description_synonym() -> None:
    for import_type in ("servers", "applications", "databases"):
        assert "notes" not in get_schema(import_type).field("description").synonyms
