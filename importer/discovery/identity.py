"""What identifies the asset a cleaned record describes: its keys, strongest first.

- uuid: the machine's BIOS/SMBIOS or VM UUID, lower-case and dashed, without braces or a
  "urn:uuid:" prefix; anything that is not 32 hex digits, and the placeholders firmware writes
  (all zeros, all ones, 03000200-0400-0500-0006-000700080009), is no key. (VMware's BIOS UUID and
  its byte-swapped instance UUID are two keys: telling them apart is not done here.)
- serial_number: as exported, except the placeholders of unset firmware fields ("To be filled by
  O.E.M.", "Default string", "0", "N/A", ...), which are shared by thousands of machines.
- source_id: the id of the record in the tool it was exported from (ServiceNow sys_id, AWS
  ExternalId, an Azure resource id, a vCenter MoRef). Kept as given: the tools' id formats do not
  overlap (a CMDB's sys_id in another tool's ExternalId still finds the CMDB's record), except
  for two kinds of id that are only unique within their source. A vCenter MoRef ("vm-123",
  "host-42") is numbered per vCenter: it is a key only together with the row's vCenter
  ("vcenter.corp/vm-123", the vcenter field lower-cased), and none without one. A bare number
  (Device42's device_pk) could be any tool's: it is a key within the tool the import's profile
  names ("device42:1234"), and none when no profile was recognised.
- hostname_key: the short name, lower-cased (or the canonical form of a name that is an IP).
- primary_ip: the first IP address.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from importer.discovery.normalize import normalize_hostname_key

# Keys are indexed: a value no serial number or IP address is that long identifies nothing.
MAX_KEY_LENGTH = 200

_HEX = re.compile(r"[0-9a-f]{32}")
_UUID_PLACEHOLDERS = frozenset(
    {"0" * 32, "f" * 32, "03000200040005000006000700080009", "12345678123456781234567812345678"}
)
_SERIAL_PLACEHOLDERS = frozenset(
    {
        "0",
        "00000000",
        "000000000000",
        "1234567890",
        "123456789",
        "0123456789",
        "-",
        ".",
        "n/a",
        "na",
        "none",
        "null",
        "unknown",
        "not specified",
        "not available",
        "not applicable",
        "default string",
        "to be filled by o.e.m.",
        "to be filled by oem",
        "system serial number",
        "chassis serial number",
        "serial number",
        "invalid",
        "empty",
        "oem",
    }
)
# vCenter managed object references: vm-123, host-42, domain-c7, resgroup-9, datastore-15, ...
_MOREF = re.compile(
    r"(?:vm|host|domain-[cs]|resgroup(?:-v)?|datastore|network|dvportgroup|dvs|datacenter"
    r"|group-[dhnsv]|vapp)-\d+",
    re.I,
)


_NOT_NAME = re.compile(r"[^a-z0-9]+")


class Keys(NamedTuple):
    """The keys of a cleaned record, in COPY order of cleaned_records' key columns."""

    hostname_key: str | None
    serial_number: str | None
    primary_ip: str | None
    uuid: str | None
    source_id: str | None


def identity(import_type: str, data: dict[str, Any], tool: str | None = None) -> Keys:
    """The asset keys of a cleaned row; ``tool`` is source_namespace of the import's profile."""
    if import_type == "servers":
        key = normalize_hostname_key(data.get("hostname") or data.get("name") or data.get("fqdn"))
    else:
        # Applications and databases are named, not hosted: their own namespace of keys.
        name = normalize_hostname_key(data.get("name"))
        host = normalize_hostname_key(data.get("host"))
        prefix = "app" if import_type == "applications" else "db"
        key = None if name is None else f"{prefix}:{name}" + (f"@{host}" if host else "")
    ips = data.get("ip_address")
    ip = ips[0] if isinstance(ips, list) and ips else ips
    ip = str(ip) if ip and len(str(ip)) <= MAX_KEY_LENGTH else None
    if import_type != "servers":
        return Keys(key, serial_key(data.get("serial_number")), ip, None, None)
    return Keys(
        key,
        serial_key(data.get("serial_number")),
        ip,
        uuid_key(data.get("uuid")),
        source_key(data.get("source_id"), data.get("vcenter"), tool),
    )


def serial_key(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, bool | list | dict):
        return None
    serial = str(value)
    if len(serial) > MAX_KEY_LENGTH or serial.strip().lower() in _SERIAL_PLACEHOLDERS:
        return None
    return serial


def uuid_key(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > MAX_KEY_LENGTH:
        return None
    text = value.strip().lower().removeprefix("urn:uuid:").strip("{}() ")
    digits = text.replace("-", "").replace(" ", "")
    if _HEX.fullmatch(digits) is None or digits in _UUID_PLACEHOLDERS:
        return None
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


def source_namespace(tool: str | None) -> str | None:
    """The namespace of a tool's numeric record ids: "Device42" -> "device42"."""
    name = _NOT_NAME.sub("-", tool.lower()).strip("-") if tool else ""
    return name or None


def source_key(value: Any, vcenter: Any, tool: str | None = None) -> str | None:
    if value is None or isinstance(value, bool | list | dict):
        return None
    source_id = str(value).strip()
    if not source_id or len(source_id) > MAX_KEY_LENGTH:
        return None
    if source_id.isdigit():
        return f"{tool}:{source_id}" if tool else None
    if _MOREF.fullmatch(source_id):
        server = str(vcenter).strip().lower() if isinstance(vcenter, str) else ""
        if not server:
            return None
        source_id = f"{server}/{source_id}"
        return source_id if len(source_id) <= MAX_KEY_LENGTH else None
    return source_id
