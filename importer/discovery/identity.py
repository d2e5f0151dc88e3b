"""What identifies the asset a cleaned record describes: its keys, tried in order."""

from __future__ import annotations

from typing import Any

from importer.discovery.normalize import normalize_hostname_key

# Keys are indexed: a value no serial number or IP address is that long identifies nothing.
MAX_KEY_LENGTH = 200


def identity(import_type: str, data: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(hostname key, serial number, primary IP) of a cleaned row."""
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
    serial = str(data["serial_number"]) if data.get("serial_number") else None
    if serial is not None and len(serial) > MAX_KEY_LENGTH:
        serial = None
    ip = str(ip) if ip and len(str(ip)) <= MAX_KEY_LENGTH else None
    return key, serial, ip
