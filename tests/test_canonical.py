import pytest

from importer.canonical import IMPORT_TYPES, get_schema
from importer.services.mapping_suggester import normalise_header


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


def test_server_fields_and_types() -> None:
    schema = get_schema("servers")
    assert [spec.name for spec in schema.fields] == [
        "hostname",
        "name",
        "fqdn",
        "ip_address",
        "mac_address",
        "os_name",
        "os_version",
        "environment",
        "cpu_cores",
        "cpu_sockets",
        "cores_per_cpu",
        "memory_gb",
        "disk_gb",
        "disk_count",
        "disk_each_gb",
        "serial_number",
        "uuid",
        "source_id",
        "vcenter",
        "virtual_host",
        "cluster",
        "is_template",
        "asset_tag",
        "manufacturer",
        "model",
        "location",
        "owner",
        "business_unit",
        "application",
        "dependencies",
        "is_virtual",
        "status",
        "install_date",
        "last_seen",
        "description",
    ]
    types = {spec.name: spec.type for spec in schema.fields}
    assert types["hostname"] == "hostname"
    assert types["ip_address"] == "ip"
    assert types["cpu_cores"] == "integer"
    assert types["memory_gb"] == types["disk_gb"] == "number"
    assert types["dependencies"] == "list"
    assert types["is_virtual"] == "boolean"
    assert types["install_date"] == types["last_seen"] == "date"
    for name in ("cpu_cores", "memory_gb", "disk_gb"):
        assert schema.field(name).minimum == 0
    assert schema.field("memory_gb").unit == schema.field("disk_gb").unit == "GiB"


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
