"""The canonical schema each import type is mapped onto.

Synonyms are header spellings seen in real CMDB/inventory exports (ServiceNow, Device42,
RVTools, spreadsheets); the mapping suggester matches on them before falling back to fuzzy
matching, so a spelling listed here beats any near-miss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FieldType = Literal[
    "string", "hostname", "ip", "integer", "number", "sizes", "date", "boolean", "list"
]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: FieldType
    required: bool = False
    minimum: float | None = None
    synonyms: tuple[str, ...] = ()
    # The unit a size is stored in: other units are converted (importer.discovery.units).
    unit: str | None = None
    # How several columns mapped to the field make one value: "sum" adds them up (disks, each
    # also kept in the list named by ``parts``), "best" takes the best-informed one (OS names),
    # "union" keeps each distinct value once, in column order (a primary address, then the rest).
    combine: Literal["one", "sum", "best", "union"] = "one"
    parts: str | None = None


@dataclass(frozen=True)
class CanonicalSchema:
    import_type: str
    fields: tuple[FieldSpec, ...]
    # Groups of fields of which each row needs at least one (a connection's source: its host
    # name or its IP address); a field's own ``required`` is for a field needed on its own.
    required_one_of: tuple[tuple[str, ...], ...] = ()

    def field(self, name: str) -> FieldSpec:
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.import_type} has no field {name!r}")

    @property
    def required_fields(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields if spec.required)


# Shared between import types so the same export column maps the same way everywhere.
_ENVIRONMENT = FieldSpec(
    "environment",
    "string",
    synonyms=(
        "env",
        "env name",
        "environment name",
        "environment type",
        "env type",
        "lifecycle",
        "lifecycle stage",
        "stage",
        "landscape",
        "deployment environment",
        "used for",
    ),
)
_OWNER_SYNONYMS = (
    "owned by",
    "owner name",
    "business owner",
    "technical owner",
    "it owner",
    "contact",
    "managed by",
    "responsible",
    "custodian",
)
_BUSINESS_UNIT = FieldSpec(
    "business_unit",
    "string",
    synonyms=(
        "bu",
        "business unit name",
        "department",
        "dept",
        "division",
        "cost center",
        "cost centre",
        "org",
        "organization",
        "organisation",
        "line of business",
        "lob",
    ),
)
_DEPENDENCIES = FieldSpec(
    "dependencies",
    "list",
    synonyms=(
        "depends on",
        "dependency",
        "depends",
        "dependent on",
        "upstream",
        "connected to",
        "connects to",
        "related cis",
        "relationships",
    ),
)
# "Notes"/"Comments" are deliberately absent: they hold free-form remarks, not a description.
_DESCRIPTION = FieldSpec(
    "description",
    "string",
    synonyms=("desc", "short description", "details", "summary", "purpose"),
)

_SERVERS = CanonicalSchema(
    "servers",
    (
        FieldSpec(
            "hostname",
            "hostname",
            synonyms=(
                "host name",
                "host",
                "server name",
                "server",
                "computer name",
                "device name",
                "node name",
                "machine name",
                "system name",
                "netbios name",
                "short name",
            ),
        ),
        # A display name (a VM's name in vCenter, a CI's name): a name, not checked as a host
        # name ("vCLS (1)", "lon-kafka-s01 (old)" are real VM names). It keys the asset when the
        # row has no host name.
        FieldSpec(
            "name",
            "string",
            synonyms=("display name", "vm name", "vm", "ci name", "asset name"),
        ),
        FieldSpec(
            "fqdn",
            "hostname",
            synonyms=(
                "fully qualified domain name",
                "dns name",
                "dns hostname",
                "dns",
                "full hostname",
            ),
        ),
        FieldSpec(
            "ip_address",
            "ip",
            combine="union",
            synonyms=(
                "ip",
                "ips",
                "ip addr",
                "ip addresses",
                "ipv4",
                "ipv4 address",
                "ipv6",
                "ipv6 address",
                "primary ip",
                "primary ip address",
                "mgmt ip",
                "management ip",
                "private ip",
                "network address",
            ),
        ),
        FieldSpec(
            "mac_address",
            "string",
            synonyms=(
                "mac",
                "mac addr",
                "mac addresses",
                "hardware address",
                "physical address",
                "nic mac",
            ),
        ),
        FieldSpec(
            "os_name",
            "string",
            combine="best",
            synonyms=(
                "os",
                "operating system",
                "operating system name",
                "platform",
                "os family",
                "os type",
                "os platform",
                "guest os",
            ),
        ),
        FieldSpec(
            "os_version",
            "string",
            synonyms=(
                "operating system version",
                "os release",
                "os build",
                "os build number",
                "os ver",
                "kernel version",
            ),
        ),
        _ENVIRONMENT,
        FieldSpec(
            "cpu_cores",
            "integer",
            minimum=0,
            synonyms=(
                "cpu",
                "cpus",
                "cores",
                "cpu count",
                "vcpu",
                "vcpus",
                "num cpus",
                "number of cpus",
                "processors",
                "processor count",
                "logical processors",
                "core count",
                "cpu core count",
                "num cores",
                "number of cores",
                "total cores",
            ),
        ),
        # Where an export counts processors and cores per processor instead of cores (ServiceNow,
        # Device42): the cores are their product.
        FieldSpec(
            "cpu_sockets",
            "integer",
            minimum=0,
            synonyms=("sockets", "number of sockets", "physical cpus", "socket count"),
        ),
        FieldSpec(
            "cores_per_cpu",
            "integer",
            minimum=0,
            synonyms=("cores per socket", "core per cpu", "cores per processor"),
        ),
        FieldSpec(
            "memory_gb",
            "number",
            minimum=0,
            unit="GiB",
            synonyms=(
                "ram",
                "ram gb",
                "memory",
                "mem",
                "mem gb",
                "memory size",
                "ram size",
                "total memory",
                "physical memory",
                "ram total size",
                "total ram",
            ),
        ),
        FieldSpec(
            "disk_gb",
            "number",
            minimum=0,
            unit="GiB",
            combine="sum",
            parts="disks_gb",
            synonyms=(
                "disk",
                "disk size",
                "disk space",
                "disk capacity",
                "total disk",
                "hdd",
                "storage",
                "storage gb",
                "storage size",
                "total storage",
                "provisioned storage",
            ),
        ),
        # Each disk's size (RVTools' vDisk rows of a VM, joined to it): they make the total when
        # no column gives it.
        FieldSpec(
            "disks_gb",
            "sizes",
            unit="GiB",
            synonyms=("disk sizes", "sizes of disks", "each disk size"),
        ),
        FieldSpec(
            "disk_count",
            "integer",
            minimum=0,
            synonyms=("disks", "number of disks", "hdd count", "num disks"),
        ),
        # Where an export gives the size of each of its disks and their count (Device42): the
        # disks are their product.
        FieldSpec(
            "disk_each_gb",
            "number",
            minimum=0,
            unit="GiB",
            synonyms=("size of each disk", "disk size each", "per disk size"),
        ),
        FieldSpec(
            "serial_number",
            "string",
            synonyms=("serial", "serial no", "serial num", "serial nbr", "sn", "service tag"),
        ),
        # Strong keys: the machine's own UUID (BIOS/SMBIOS or the VM's), and the id of the record in
        # the tool it was exported from (ServiceNow sys_id, AWS ExternalId, a vCenter MoRef).
        FieldSpec(
            "uuid",
            "string",
            synonyms=(
                "vm uuid",
                "bios uuid",
                "smbios uuid",
                "system uuid",
                "hardware uuid",
                "instance uuid",
                "machine uuid",
            ),
        ),
        FieldSpec(
            "source_id",
            "string",
            synonyms=(
                "sys id",
                "external id",
                "source record id",
                "record id",
                "ci id",
                "moref",
                "mo ref",
                "vm moref",
                "object id",
            ),
        ),
        # The vCenter a row was read from: a MoRef in source_id is unique only within it.
        FieldSpec(
            "vcenter",
            "string",
            synonyms=("vi sdk server", "vcenter server", "vcenter name", "vc server"),
        ),
        FieldSpec(
            "virtual_host",
            "string",
            synonyms=(
                "esxi host",
                "hypervisor",
                "hypervisor host",
                "vm host",
                "physical host",
                "host server",
            ),
        ),
        FieldSpec("cluster", "string", synonyms=("cluster name", "host cluster", "vm cluster")),
        FieldSpec(
            "is_template",
            "boolean",
            synonyms=("template", "vm template", "is vm template"),
        ),
        FieldSpec(
            "asset_tag",
            "string",
            synonyms=("asset", "asset number", "asset no", "asset id", "inventory number", "tag"),
        ),
        FieldSpec(
            "manufacturer",
            "string",
            synonyms=("vendor", "make", "mfr", "manufacturer name", "hardware vendor", "brand"),
        ),
        FieldSpec(
            "model",
            "string",
            synonyms=("model name", "model number", "model id", "hardware model", "product"),
        ),
        FieldSpec(
            "location",
            "string",
            synonyms=(
                "site",
                "site name",
                "datacenter",
                "data center",
                "data centre",
                "dc",
                "location name",
                "facility",
                "region",
                "building",
                "room",
            ),
        ),
        FieldSpec("owner", "string", synonyms=("system owner", *_OWNER_SYNONYMS)),
        _BUSINESS_UNIT,
        FieldSpec(
            "application",
            "string",
            synonyms=(
                "app",
                "apps",
                "applications",
                "application name",
                "app name",
                "hosted applications",
                "service",
                "business service",
                "application service",
            ),
        ),
        _DEPENDENCIES,
        FieldSpec(
            "is_virtual",
            "boolean",
            synonyms=(
                "virtual",
                "is vm",
                "virtual machine",
                "virtualized",
                "is virtualized",
                "physical or virtual",
            ),
        ),
        FieldSpec(
            "status",
            "string",
            synonyms=(
                "state",
                "operational status",
                "operational state",
                "install status",
                "server status",
                "ci status",
                "power state",
            ),
        ),
        FieldSpec(
            "install_date",
            "date",
            synonyms=(
                "installed",
                "installed on",
                "installation date",
                "commission date",
                "commissioned",
                "build date",
                "deployed on",
                "provisioned date",
            ),
        ),
        FieldSpec(
            "last_seen",
            "date",
            synonyms=(
                "last seen date",
                "last discovered",
                "most recent discovery",
                "last scan",
                "last scanned",
                "last contact",
                "last check in",
            ),
        ),
        _DESCRIPTION,
    ),
    # A server is named by its host name, its display name or its FQDN: one of them each row.
    required_one_of=(("hostname", "name", "fqdn"),),
)

_APPLICATIONS = CanonicalSchema(
    "applications",
    (
        FieldSpec(
            "name",
            "string",
            required=True,
            synonyms=(
                "application",
                "application name",
                "app",
                "app name",
                "service name",
                "system",
                "system name",
                "ci name",
                "product name",
            ),
        ),
        FieldSpec(
            "version",
            "string",
            synonyms=("app version", "application version", "release", "ver", "version number"),
        ),
        FieldSpec(
            "owner",
            "string",
            synonyms=("application owner", "app owner", "product owner", *_OWNER_SYNONYMS),
        ),
        _BUSINESS_UNIT,
        FieldSpec(
            "criticality",
            "string",
            synonyms=(
                "business criticality",
                "criticality level",
                "tier",
                "priority",
                "importance",
                "impact",
                "service level",
                "sla",
            ),
        ),
        _ENVIRONMENT,
        FieldSpec(
            "hosts",
            "list",
            synonyms=(
                "host",
                "hostname",
                "hostnames",
                "host name",
                "host names",
                "server",
                "servers",
                "server names",
                "nodes",
                "hosted on",
                "runs on",
            ),
        ),
        _DEPENDENCIES,
        FieldSpec(
            "technology",
            "string",
            synonyms=(
                "tech",
                "tech stack",
                "technology stack",
                "stack",
                "platform",
                "language",
                "framework",
                "runtime",
                "middleware",
            ),
        ),
        _DESCRIPTION,
    ),
)

_DATABASES = CanonicalSchema(
    "databases",
    (
        FieldSpec(
            "name",
            "string",
            required=True,
            synonyms=(
                "database",
                "database name",
                "db",
                "db name",
                "instance",
                "instance name",
                "db instance",
                "database instance",
                "schema",
                "schema name",
                "sid",
            ),
        ),
        FieldSpec(
            "engine",
            "string",
            synonyms=(
                "db engine",
                "database engine",
                "dbms",
                "rdbms",
                "type",
                "db type",
                "database type",
                "platform",
                "database platform",
                "vendor",
                "product",
            ),
        ),
        FieldSpec(
            "version",
            "string",
            synonyms=("db version", "database version", "engine version", "ver", "release"),
        ),
        FieldSpec(
            "host",
            "hostname",
            synonyms=(
                "hostname",
                "host name",
                "server",
                "server name",
                "db host",
                "database host",
                "db server",
                "database server",
                "node",
                "machine",
            ),
        ),
        FieldSpec(
            "port",
            "integer",
            minimum=0,
            synonyms=("port number", "port no", "listener port", "tcp port", "db port"),
        ),
        FieldSpec(
            "size_gb",
            "number",
            minimum=0,
            synonyms=(
                "size",
                "db size",
                "database size",
                "data size",
                "total size",
                "allocated size",
                "used space",
                "storage",
            ),
        ),
        _ENVIRONMENT,
        FieldSpec(
            "owner", "string", synonyms=("db owner", "database owner", "dba", *_OWNER_SYNONYMS)
        ),
        _DESCRIPTION,
    ),
)

# Flow and connection exports (Azure Migrate's dependency export, netstat-style captures): each row
# is one observed connection. They add dependency edges and never change an asset's attributes.
_DEPENDENCIES_EXPORT = CanonicalSchema(
    "dependencies",
    (
        FieldSpec(
            "source_hostname",
            "hostname",
            synonyms=(
                "source server name",
                "source server",
                "source host",
                "source name",
                "src host",
            ),
        ),
        FieldSpec("source_ip", "ip", synonyms=("source ip address", "src ip", "source address")),
        FieldSpec("source_process", "string", synonyms=("source process name", "process")),
        FieldSpec(
            "source_application", "string", synonyms=("source app", "source application name")
        ),
        FieldSpec(
            "destination_hostname",
            "hostname",
            synonyms=(
                "destination server name",
                "destination server",
                "destination host",
                "destination name",
                "dest host",
                "target host",
            ),
        ),
        FieldSpec(
            "destination_ip",
            "ip",
            synonyms=("destination ip address", "dest ip", "dst ip", "target ip", "remote address"),
        ),
        FieldSpec(
            "destination_port",
            "integer",
            minimum=0,
            synonyms=("dest port", "dst port", "target port", "remote port", "port"),
        ),
        FieldSpec("destination_process", "string", synonyms=("destination process name",)),
        FieldSpec(
            "destination_application",
            "string",
            synonyms=("destination app", "destination application name"),
        ),
        FieldSpec("protocol", "string", synonyms=("proto", "transport", "ip protocol")),
    ),
    required_one_of=(("source_hostname", "source_ip"), ("destination_hostname", "destination_ip")),
)

_SCHEMAS = {
    schema.import_type: schema
    for schema in (_SERVERS, _APPLICATIONS, _DATABASES, _DEPENDENCIES_EXPORT)
}
IMPORT_TYPES: tuple[str, ...] = tuple(_SCHEMAS)


def get_schema(import_type: str) -> CanonicalSchema:
    """Raises KeyError for an unknown import type."""
    return _SCHEMAS[import_type]
