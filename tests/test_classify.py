from typing import Any

import pytest

from importer.discovery import classify
from importer.discovery.classify import classify_asset


def test_import_type_decides_for_databases_and_applications() -> None:
    assert classify_asset("databases", {"name": "crm", "host": "vm-01"}) == "database"
    assert classify_asset("applications", {"name": "Cisco switch manager"}) == "application"


def test_unknown_import_type_raises() -> None:
    with pytest.raises(ValueError, match="printers"):
        classify_asset("printers", {})


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"hostname": "app-01", "is_virtual": True}, "virtual_machine"),
        ({"hostname": "app-01", "model": "VMware Virtual Platform"}, "virtual_machine"),
        ({"hostname": "app-01", "manufacturer": "VMware, Inc."}, "virtual_machine"),
        ({"hostname": "app-01", "model": "Virtual Machine"}, "virtual_machine"),
        ({"hostname": "app-01", "model": "KVM"}, "virtual_machine"),
        ({"hostname": "app-01", "manufacturer": "Microsoft Hyper-V"}, "virtual_machine"),
        ({"hostname": "app-01", "model": "HVM domU", "manufacturer": "Xen"}, "virtual_machine"),
        ({"hostname": "vm-web01"}, "virtual_machine"),
        ({"hostname": "web-vm-02.corp.example"}, "virtual_machine"),
        ({"hostname": "vm01"}, "virtual_machine"),
        # A VM stays a VM whatever it runs.
        ({"hostname": "crm-db01", "is_virtual": True}, "virtual_machine"),
        ({"hostname": "core-01", "manufacturer": "Cisco", "model": "C9300"}, "network_device"),
        ({"hostname": "edge-01", "os_name": "JUNOS 21.2"}, "network_device"),
        ({"hostname": "tor-01", "manufacturer": "Arista Networks"}, "network_device"),
        ({"hostname": "core-switch-01"}, "network_device"),
        ({"hostname": "x", "description": "Perimeter firewall"}, "network_device"),
        ({"hostname": "lb-01", "model": "BIG-IP i5800", "manufacturer": "F5"}, "network_device"),
        ({"hostname": "x", "description": "Internal load balancer"}, "network_device"),
        ({"hostname": "fw-01", "manufacturer": "Palo Alto Networks"}, "network_device"),
        ({"hostname": "x", "model": "Router 4331"}, "network_device"),
        ({"hostname": "fas-01", "manufacturer": "NetApp", "model": "FAS8200"}, "storage"),
        ({"hostname": "x", "manufacturer": "EMC", "model": "VNX5400"}, "storage"),
        ({"hostname": "x", "manufacturer": "Pure Storage"}, "storage"),
        ({"hostname": "x", "description": "Primary SAN"}, "storage"),
        ({"hostname": "x", "description": "NAS for home shares"}, "storage"),
        ({"hostname": "x", "description": "Tier 1 storage array"}, "storage"),
        ({"hostname": "crm-db01"}, "database"),
        ({"hostname": "db-01.corp.example"}, "database"),
        ({"hostname": "crm-db"}, "database"),
        ({"hostname": "x", "application": "SQL Server 2019"}, "database"),
        ({"hostname": "x", "description": "Oracle DB for billing"}, "database"),
        ({"hostname": "x", "description": "PostgreSQL primary"}, "database"),
        ({"hostname": "x", "application": "MySQL"}, "database"),
        ({"hostname": "web-01"}, "server"),
        ({"hostname": "web-01", "is_virtual": False}, "server"),
        # A VM template is neither a server nor a running VM.
        ({"hostname": "tpl-rhel9", "is_template": True, "is_virtual": True}, "vm_template"),
        ({"hostname": "web-01", "is_template": False, "is_virtual": True}, "virtual_machine"),
        # A row that names the host it runs on is a VM.
        ({"hostname": "app-01", "virtual_host": "esx-07.corp"}, "virtual_machine"),
        ({"hostname": "app-01", "virtual_host": ""}, "server"),
        # A hypervisor host is known by its OS; a nested one is a VM.
        (
            {"hostname": "vmhost01", "os_name": "VMware ESXi 7.0", "manufacturer": "Dell Inc."},
            "hypervisor",
        ),
        ({"hostname": "hv-01", "os_name": "Microsoft Hyper-V Server 2019"}, "hypervisor"),
        ({"hostname": "pve-1", "os_name": "Proxmox VE 8.1"}, "hypervisor"),
        (
            {"hostname": "lab-esx", "os_name": "VMware ESXi 8.0", "manufacturer": "VMware, Inc."},
            "virtual_machine",
        ),
    ],
)
def test_servers(fields: dict[str, Any], expected: str) -> None:
    assert classify_asset("servers", fields) == expected


@pytest.mark.parametrize(
    "fields",
    [
        # Dell EMC sells servers as well as arrays.
        {"hostname": "app-01", "manufacturer": "Dell EMC", "model": "PowerEdge R740"},
        # Places, not storage networks.
        {"hostname": "san-jose-web01", "description": "Web server in San Jose"},
        # Oracle the OS vendor is no database.
        {"hostname": "app-01", "os_name": "Oracle Linux 8", "application": "Oracle E-Business"},
        # A "db" domain label is no database host.
        {"hostname": "web-01.db.corp.example"},
        {"hostname": "dbadmin-tools"},
        {"hostname": "web-01", "description": "Switched to the new DC"},
        {},
        {"hostname": None, "model": 42, "description": ["cisco"]},
    ],
)
def test_plain_servers(fields: dict[str, Any]) -> None:
    assert classify_asset("servers", fields) == "server"


def test_rules_apply_in_order() -> None:
    fields = {"hostname": "crm-db01", "manufacturer": "NetApp", "description": "Cisco"}
    assert classify_asset("servers", fields) == "network_device"
    assert classify_asset("servers", {**fields, "description": None}) == "storage"
    assert classify_asset("servers", {"hostname": "crm-db01", "model": "VMware"}) == (
        "virtual_machine"
    )


@pytest.mark.parametrize(
    "host",
    [
        "vm-web01",
        "web-vm-02.corp.example",
        "vmhost01",
        "core-switch-01",
        "palo-alto-fw",
        "Primary SAN",
        "nas-01",
        "NAS01",
        "Dell EMC unity",
        "EMC-01",
        "crm-db01",
        "web.db.corp",
        "sql server box",
        "sql-server-01",
        "big-ip-02",
        "load-balancer-1",
        "pure-storage-a",
        "oracle-rac-n1",
        "check-point-gw",
        "netapp-fas",
        "srv-01234.corp.example",
        "",
    ],
)
def test_the_hostname_alone_is_judged_as_by_the_rules(host: str) -> None:
    assert classify._host_traits(host) == classify._traits({"hostname": host})


def test_unhashable_values_are_classified_uncached() -> None:
    fields = {"hostname": "x", "description": ["Primary", "storage array"]}
    assert classify_asset("servers", fields) == "server"
    assert classify_asset("servers", {"hostname": "x", "model": ["KVM"]}) == "server"
    assert classify_asset("servers", {"hostname": "db-01", "model": ["KVM"]}) == "database"
