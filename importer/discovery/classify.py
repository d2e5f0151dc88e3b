"""The asset type of a cleansed record.

Databases and applications imports are what they say; a servers row is typed by the first
matching rule of _SERVER_RULES, an ordered table of (type, predicate), and is a server otherwise.
A VM template (is_template) is no running machine: it comes first, kept out of the servers and
VMs. A virtual machine stays one whatever it runs, so that rule comes next; a row that names the
host it runs on (virtual_host) is a VM. A hypervisor (ESXi, Hyper-V Server, Proxmox, ...) is
known by its operating system, once the VM rule has not matched (a nested ESXi is a VM).

"server" is the absence of evidence: asset_inventory never lets it replace another type.

Fields are compared as sets of words and word pairs ("palo alto"): over a million rows, set
look-ups cost a fraction of case-insensitive regex searches.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any, Literal

AssetType = Literal[
    "server",
    "virtual_machine",
    "vm_template",
    "hypervisor",
    "database",
    "network_device",
    "storage",
    "application",
]

_WORD = re.compile(r"[a-z0-9]+")

_VIRTUAL = frozenset(
    {
        "vmware",
        "virtual",
        "virtualbox",
        "virtualized",
        "kvm",
        "qemu",
        "xen",
        "xenserver",
        "hvm domu",
        "hyper v",
        "hyperv",
        "amazon ec2",
        "google compute",
    }
)
_HYPERVISOR = frozenset(
    {
        "esxi",
        "vmware esxi",
        "esx",
        "hyper v",
        "proxmox",
        "xenserver",
        "xcp ng",
        "citrix hypervisor",
        "ahv",
    }
)
_NETWORK = frozenset(
    {
        "cisco",
        "juniper",
        "junos",
        "arista",
        "router",
        "routers",
        "switch",
        "switches",
        "firewall",
        "firewalls",
        "load balancer",
        "load balancers",
        "load balancing",
        "loadbalancer",
        "f5",
        "big ip",
        "bigip",
        "palo alto",
        "paloalto",
        "fortinet",
        "fortigate",
        "check point",
        "checkpoint",
        "netscaler",
        "nx os",
        "nxos",
    }
)
_STORAGE = frozenset(
    {
        "netapp",
        "ontap",
        "pure storage",
        "purestorage",
        "isilon",
        "powerscale",
        "powerstore",
        "powermax",
        "vnx",
        "vmax",
        "3par",
        "nimble",
        "data domain",
        "storage array",
        "storage arrays",
    }
)
# SAN, NAS and EMC as words in capitals: "San Jose" and "Nas" are a place and a name. "Dell
# EMC" also sells PowerEdge servers, so EMC counts without Dell (Dell's arrays count by name).
# Each branch starts with its literal letter, which lets the regex engine scan for it in C,
# and only then looks behind for a word start: 8 times faster than a leading \b.
_STORAGE_ACRONYMS = re.compile(r"(?:S(?<!\wS)AN|N(?<!\wN)AS|E(?<!\wE)(?<!Dell E)(?<!DELL E)MC)\b")
_DATABASE = frozenset(
    {
        "oracle db",
        "oracle database",
        "oracle rac",
        "sql server",
        "mssql",
        "postgres",
        "postgresql",
        "mysql",
        "mariadb",
        "mongodb",
        "db2",
        "sybase",
    }
)
# "vm-web01", "web-vm-02", "vm01"; not "vmhost01", which is rather a hypervisor host.
_VM_HOSTNAME = re.compile(r"(?:^|[-_])vm(?=[-_.\d]|$)", re.I)
# "db-01", "app-db02", "crm-db.corp.example"; a "db" domain label ("web.db.corp") is not one.
_DB_HOSTNAME = re.compile(r"(?:^|[-_])db(?=[-_.\d]|$)", re.I)

_DEVICE_FIELDS = ("os_name", "model", "manufacturer", "description", "hostname")


class _Record:
    """A record's fields as read by the rules, each group of fields prepared once."""

    __slots__ = ("_values", "_words", "_texts")

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = values
        self._words: dict[tuple[str, ...], frozenset[str]] = {}
        self._texts: dict[tuple[str, ...], str] = {}

    def value(self, field: str) -> Any:
        return self._values.get(field)

    def words(self, fields: tuple[str, ...]) -> frozenset[str]:
        words = self._words.get(fields)
        if words is None:
            words = self._words[fields] = frozenset().union(
                *(_words(text) for text in self._strings(fields))
            )
        return words

    def text(self, fields: tuple[str, ...]) -> str:
        text = self._texts.get(fields)
        if text is None:
            # The separator is neither a word character nor a space, so no match spans fields.
            text = self._texts[fields] = "\x1f".join(self._strings(fields))
        return text

    def _strings(self, fields: tuple[str, ...]) -> list[str]:
        return [value for field in fields if isinstance(value := self._values.get(field), str)]


@lru_cache(maxsize=65536)
def _words(text: str) -> frozenset[str]:
    words = _WORD.findall(text.casefold())
    return frozenset(words).union(map(" ".join, zip(words, words[1:], strict=False)))


_Predicate = Callable[[_Record], bool]


def _says(words: frozenset[str], *fields: str) -> _Predicate:
    return lambda record: not words.isdisjoint(record.words(fields))


def _matches(pattern: re.Pattern[str], *fields: str) -> _Predicate:
    return lambda record: pattern.search(record.text(fields)) is not None


def _flagged(field: str) -> _Predicate:
    return lambda record: record.value(field) is True


def _present(field: str) -> _Predicate:
    return lambda record: bool(record.value(field))


def _either(*predicates: _Predicate) -> _Predicate:
    return lambda record: any(predicate(record) for predicate in predicates)


_SERVER_RULES: tuple[tuple[AssetType, _Predicate], ...] = (
    ("vm_template", _flagged("is_template")),
    (
        "virtual_machine",
        _either(
            _flagged("is_virtual"),
            _present("virtual_host"),
            _says(_VIRTUAL, "model", "manufacturer"),
            _matches(_VM_HOSTNAME, "hostname"),
        ),
    ),
    ("hypervisor", _says(_HYPERVISOR, "os_name")),
    ("network_device", _says(_NETWORK, *_DEVICE_FIELDS)),
    (
        "storage",
        _either(_says(_STORAGE, *_DEVICE_FIELDS), _matches(_STORAGE_ACRONYMS, *_DEVICE_FIELDS)),
    ),
    (
        "database",
        _either(
            _says(_DATABASE, "hostname", "description", "application"),
            _matches(_DB_HOSTNAME, "hostname"),
        ),
    ),
)


_PAIR_STARTS = frozenset(
    term.split()[0] for terms in (_NETWORK, _STORAGE, _DATABASE) for term in terms if " " in term
)
_HOST_FIELD = "hostname"
_OTHER_FIELDS = (
    "is_template",
    "is_virtual",
    "virtual_host",
    "model",
    "manufacturer",
    "os_name",
    "description",
    "application",
)
_NO_TRAITS = (False,) * len(_SERVER_RULES)
# Every field a servers row's type is read from.
EVIDENCE = (_HOST_FIELD, *_OTHER_FIELDS)


def classify_asset(import_type: str, fields: Mapping[str, Any]) -> AssetType:
    if import_type == "databases":
        return "database"
    if import_type == "applications":
        return "application"
    if import_type != "servers":
        raise ValueError(f"unknown import type {import_type!r}")
    # Every rule holds when one of its fields says so, so the hostname's verdicts and those of
    # the other fields are found apart: hostnames are unique, the other fields repeat, and
    # their verdicts are cached.
    host = fields.get(_HOST_FIELD)
    host_traits = _host_traits(host) if isinstance(host, str) else _NO_TRAITS
    # Whether a virtual host is named, not which: hosts repeat less than the cache holds.
    others = tuple(
        bool(fields.get(field)) if field == "virtual_host" else fields.get(field)
        for field in _OTHER_FIELDS
    )
    try:
        other_traits = _other_traits(others)
    except TypeError:  # a list or an object among the values: not hashable, not cached
        other_traits = _traits(dict(zip(_OTHER_FIELDS, others, strict=True)))
    for (asset_type, _), by_host, by_others in zip(
        _SERVER_RULES, host_traits, other_traits, strict=True
    ):
        if by_host or by_others:
            return asset_type
    return "server"


@lru_cache(maxsize=65536)
def _other_traits(values: tuple[Any, ...]) -> tuple[bool, ...]:
    return _traits(dict(zip(_OTHER_FIELDS, values, strict=True)))


def _host_traits(host: str) -> tuple[bool, ...]:
    """_traits of a hostname alone, for every row: the hostname's part of each rule, inlined
    (tests/test_classify.py holds it to _traits)."""
    words: Iterable[str] = _WORD.findall(host.casefold())
    # Word pairs only when one could match ("palo alto"): most hostnames have none.
    if not _PAIR_STARTS.isdisjoint(words):
        words = _words.__wrapped__(host)  # unique per row: caching would only evict
    return (
        False,
        _VM_HOSTNAME.search(host) is not None,
        False,
        not _NETWORK.isdisjoint(words),
        not _STORAGE.isdisjoint(words) or _STORAGE_ACRONYMS.search(host) is not None,
        not _DATABASE.isdisjoint(words) or _DB_HOSTNAME.search(host) is not None,
    )


def _traits(fields: Mapping[str, Any]) -> tuple[bool, ...]:
    """Which of the server rules these fields alone satisfy."""
    record = _Record(fields)
    return tuple(predicate(record) for _, predicate in _SERVER_RULES)
