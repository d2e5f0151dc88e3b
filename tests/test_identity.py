"""The keys of a cleaned row (importer.discovery.identity)."""

from __future__ import annotations

import pytest

from importer.discovery.identity import (
    Keys,
    identity,
    serial_key,
    source_key,
    source_namespace,
    uuid_key,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("4215A7C8-1B2C-4D5E-8F90-0A1B2C3D4E5F", "4215a7c8-1b2c-4d5e-8f90-0a1b2c3d4e5f"),
        ("{4215a7c8-1b2c-4d5e-8f90-0a1b2c3d4e5f}", "4215a7c8-1b2c-4d5e-8f90-0a1b2c3d4e5f"),
        ("urn:uuid:4215A7C81B2C4D5E8F900A1B2C3D4E5F", "4215a7c8-1b2c-4d5e-8f90-0a1b2c3d4e5f"),
        ("42 15 a7 c8 1b 2c 4d 5e-8f 90 0a 1b 2c 3d 4e 5f", "4215a7c8-1b2c-4d5e-8f90-0a1b2c3d4e5f"),
        ("00000000-0000-0000-0000-000000000000", None),
        ("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF", None),
        ("03000200-0400-0500-0006-000700080009", None),
        ("not a uuid", None),
        ("", None),
        (42, None),
    ],
)
def test_uuid_key(raw, expected) -> None:
    assert uuid_key(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CZ1234ABCD", "CZ1234ABCD"),
        (2**70, str(2**70)),
        ("To be filled by O.E.M.", None),
        ("Default string", None),
        (" N/A ", None),
        ("0", None),
        (0, None),
        ("", None),
        (True, None),
        ("S" * 201, None),
    ],
)
def test_serial_key(raw, expected) -> None:
    assert serial_key(raw) == expected


@pytest.mark.parametrize(
    ("raw", "vcenter", "tool", "expected"),
    [
        ("9d385017c611228701d22104cc95c371", None, None, "9d385017c611228701d22104cc95c371"),
        ("i-0abc123def4567890", None, "rvtools", "i-0abc123def4567890"),
        # A MoRef is a key only with its vCenter...
        ("vm-123", "VC01.corp.example", None, "vc01.corp.example/vm-123"),
        ("vm-123", None, "rvtools", None),
        ("host-42", "", None, None),
        # ... and a bare number only within the tool the import's profile names.
        ("1234", "vc01", None, None),
        (1234, None, "device42", "device42:1234"),
        ("  ", None, "device42", None),
    ],
)
def test_source_key(raw, vcenter, tool, expected) -> None:
    assert source_key(raw, vcenter, tool) == expected


def test_source_namespace() -> None:
    assert source_namespace("Device42") == "device42"
    assert source_namespace("AWS Application Discovery Service") == (
        "aws-application-discovery-service"
    )
    assert source_namespace(None) is None


def test_only_servers_have_uuids_and_source_ids() -> None:
    row = {"hostname": "Web-01.corp", "ip_address": ["10.0.0.1", "10.0.0.2"], "uuid": "ab" * 16}
    assert identity("servers", row) == Keys(
        "web-01", None, "10.0.0.1", "abababab-abab-abab-abab-abababababab", None
    )
    assert identity("databases", {"name": "orders", "host": "db-01", "uuid": "ab" * 16}) == Keys(
        "db:orders@db-01", None, None, None, None
    )
