"""Tool profiles: the documented export layouts of discovery tools, recognised by their header.

Each profile is a TOML file in data/profiles/, so that adding a tool is a new file, not new code.
A profile says which import type the layout is, which worksheet of a workbook holds it, which
headers identify it (its fingerprint), and which canonical field (with which unit) each of its
documented columns holds. Every profile cites the documentation its columns come from.

    id = "rvtools-vinfo"           # stable: stored on the import, and the context of what an
                                   # account's reviews teach (a header means different things
                                   # in different layouts)
    tool = "RVTools"
    layout = "vInfo worksheet"
    import_type = "servers"
    sheet = "vInfo"                # optional: the worksheet that holds the layout
    default_sheet = true           # optional: read this sheet when an upload names none
    sources = ["https://..."]      # required: the documentation of the columns
    fingerprint = ["VM", "Powerstate", "VI SDK Server"]  # every one present: this layout
    ignore = ["Host", "Disks"]     # documented columns that hold no canonical field: never guessed
    [[companions]]                 # optional: another sheet of the workbook about the same rows
    sheet = "vNetwork"
    keys = [["VM ID", "VI SDK UUID"], ["VM", "VI SDK Server"]]  # the first both sheets have
    columns = ["IPv4 Address"]     # joined as "vNetwork: IPv4 Address", each row's values "; "-ed
    [columns]
    "VM" = "hostname"
    "Memory" = { field = "memory_gb", unit = "MiB" }
    "ram" = { field = "memory_gb", unit_column = "ram_size_type" }

Headers are compared as normalise_header sees them, without spaces ("RAM (MB)" and "ram_mb" are
one header, and so are "Time slot" and "Timeslot").
A file matches a profile of its import type when it has every header of the fingerprint; of
several, the one that knows most of the file's headers wins.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from importer.canonical import IMPORT_TYPES, get_schema
from importer.discovery.units import SIZE_UNITS
from importer.services.mapping_suggester import normalise_header


@dataclass(frozen=True)
class ProfileColumn:
    header: str
    field: str
    unit: str | None = None
    unit_column: str | None = None


@dataclass(frozen=True)
class Companion:
    """A sheet whose rows add to the layout's rows: several (a VM's NICs) for each, by keys."""

    sheet: str
    keys: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]

    def joined(self, column: str) -> str:
        return f"{self.sheet}: {column}"


@dataclass(frozen=True)
class Profile:
    id: str
    tool: str
    layout: str
    import_type: str
    sources: tuple[str, ...]
    fingerprint: tuple[str, ...]
    columns: tuple[ProfileColumn, ...]
    ignore: tuple[str, ...] = ()
    sheet: str | None = None
    default_sheet: bool = False
    companions: tuple[Companion, ...] = ()

    def matches(self, headers: set[str]) -> bool:
        """``headers`` as header_key makes them."""
        return all(header_key(h) in headers for h in self.fingerprint)

    def known(self, headers: set[str]) -> int:
        """How many of the file's headers this layout documents."""
        documented = {header_key(c.header) for c in self.columns}
        documented |= {header_key(h) for h in self.ignore}
        return len(documented & headers)

    def column(self, header: str) -> ProfileColumn | None:
        wanted = header_key(header)
        return next((c for c in self.columns if header_key(c.header) == wanted), None)

    def ignores(self, header: str) -> bool:
        wanted = header_key(header)
        return any(header_key(h) == wanted for h in self.ignore)


class ProfileError(ValueError):
    """A profile file that cannot be trusted: refused at load, not half-applied."""


@cache
def profiles() -> tuple[Profile, ...]:
    folder = resources.files("importer.discovery") / "data" / "profiles"
    loaded = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            with entry.open("rb") as file:
                loaded.append(parse_profile(tomllib.load(file), entry.name))
    ids = [p.id for p in loaded]
    doubled = sorted({i for i in ids if ids.count(i) > 1})
    if doubled:
        raise ProfileError(f"profile ids used twice: {doubled}")
    return tuple(loaded)


def parse_profile(data: dict, name: str) -> Profile:
    def need(key: str, kind: type) -> object:
        value = data.get(key)
        if not isinstance(value, kind) or not value:
            raise ProfileError(f"{name}: {key!r} is required ({kind.__name__})")
        return value

    import_type = need("import_type", str)
    if import_type not in IMPORT_TYPES:
        raise ProfileError(f"{name}: unknown import_type {import_type!r}")
    schema = get_schema(import_type)
    fields = {spec.name: spec for spec in schema.fields}
    sources = tuple(need("sources", list))
    if not all(isinstance(s, str) and s.startswith("https://") for s in sources):
        raise ProfileError(f"{name}: every source must be an https URL")
    columns = []
    for header, spec in need("columns", dict).items():
        spec = {"field": spec} if isinstance(spec, str) else spec
        field = spec.get("field")
        if field not in fields:
            raise ProfileError(f"{name}: column {header!r} maps to unknown field {field!r}")
        unit = spec.get("unit")
        if unit is not None and (fields[field].unit is None or unit not in SIZE_UNITS):
            raise ProfileError(f"{name}: column {header!r} has unit {unit!r} for {field}")
        columns.append(ProfileColumn(header, field, unit, spec.get("unit_column")))
    fingerprint = tuple(need("fingerprint", list))
    companions = tuple(
        Companion(
            sheet=companion["sheet"],
            keys=tuple(tuple(key) for key in companion["keys"]),
            columns=tuple(companion["columns"]),
        )
        for companion in data.get("companions", ())
    )
    return Profile(
        id=need("id", str),
        tool=need("tool", str),
        layout=need("layout", str),
        import_type=import_type,
        sources=sources,
        fingerprint=fingerprint,
        columns=tuple(columns),
        ignore=tuple(data.get("ignore", ())),
        sheet=data.get("sheet"),
        default_sheet=bool(data.get("default_sheet", False)),
        companions=companions,
    )


def header_key(header: str) -> str:
    """A header as layouts are compared: "Time slot", "Timeslot" and "time_slot" are one."""
    return normalise_header(header).replace(" ", "")


def recognise(import_type: str, columns: Sequence[str]) -> Profile | None:
    """The tool layout a file of this import type is in, by its header; None when unknown."""
    headers = {header_key(c) for c in columns}
    candidates = [p for p in profiles() if p.import_type == import_type and p.matches(headers)]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p.known(headers), len(p.fingerprint)))


def default_sheets() -> tuple[str, ...]:
    """Worksheets read when an upload names none and the workbook has one of them."""
    return tuple(dict.fromkeys(p.sheet for p in profiles() if p.sheet and p.default_sheet))


def companions_of(sheet: str) -> tuple[Companion, ...]:
    """The sheets joined to a worksheet of this name, by the layouts that live in it."""
    folded = sheet.casefold()
    return tuple(
        companion
        for profile in profiles()
        if profile.sheet and profile.sheet.casefold() == folded
        for companion in profile.companions
    )
