"""Operating system family, product name and version from the free text of inventory exports.

"Microsoft Windows Server 2012 R2 Standard (64-bit)", "RHEL8.4" or "SLES 12 SP5" become an
OsInfo whose family and version key the end-of-support table. A version found in the name wins
over the separate version column, which is used when the name has none or when it names the same
release more precisely ("SUSE Linux Enterprise 11" with "11 SP4" is 11 SP4, "RHEL 8" with "7.9"
stays 8).

Names the patterns below do not read ("Linux Oracle", "HP-UX 11i v3") are spellings listed in
data/spellings.csv with where each comes from (see importer.discovery.spellings).

VMware's guest OS names, from a VM's configuration file (RVTools' "OS according to the
configuration file"), state what the VM was set up for, not what it runs, and some are not one
release: "Microsoft Windows Server 2016 or later (64-bit)" is a lower bound and "CentOS 4/5/6/7
(64-bit)" a choice. From those the family is read and the version is None, not the bound: an
exact-looking "2016" would be assessed as certain. The version column, when there is one, is read
instead, and a caller with a better source (RVTools' "OS according to the VMware Tools") should
prefer it whenever the version here is None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from importer.discovery.spellings import spellings_of

OS_FAMILIES = frozenset(
    {
        "windows",
        "rhel",
        "centos",
        "ubuntu",
        "debian",
        "sles",
        "oracle_linux",
        "amazon_linux",
        "rocky_linux",
        "almalinux",
        "aix",
        "solaris",
        "hpux",
        "vmware_esxi",
        "macos",
        "linux",
        "other",
    }
)


@dataclass(frozen=True)
class OsInfo:
    family: str | None
    name: str | None
    version: str | None


# (version, where it starts in the text): the start delimits a generic product name.
_Found = tuple[str, int]
_Extractor = Callable[[str, int], _Found | None]

# Architecture and word size look like versions ("64-bit") but never are.
_NOISE = re.compile(r"\b(?:x86[_-]64|x64|amd64|aarch64|arm64|i[3-6]86|(?:32|64)[- ]?bits?)\b", re.I)
_VERSION = re.compile(r"\d+(?:\.\d+)*")
_SLES_VERSION = re.compile(
    r"(\d+)(?:\.(\d+))?(?:\s*(?:(?:sp|service\s*pack)\s*(\d+)|(ga)\b))?", re.I
)
# oslevel -s: "7200-05-03-2148" is AIX 7.2, technology level 5, service pack 3.
_AIX_OSLEVEL = re.compile(r"(?<!\d)(\d)(\d)00-(\d{1,2})(?:-(\d{1,2}))?(?!\d)")
# uname -r on Solaris: SunOS 5.10 is Solaris 10, SunOS 5.6 Solaris 2.6.
_SUNOS_RELEASE = re.compile(r"5\.(\d+)")
# A lower bound ("Windows Server 2016 or later") or several releases ("CentOS 4/5/6/7"): VMware's
# guest OS names, see the module docstring.
_OR_LATER = re.compile(r"\bor\s+(?:later|newer|higher|above)\b", re.I)
_RELEASE_LIST = re.compile(r"\d+(?:\.\d+)*\s*/\s*\d")
_COMPONENT_SEPARATORS = re.compile(r"[.\s]+")
_WINDOWS_SERVER_RELEASE = re.compile(
    r"(?<!\d)(?:20(?P<year>00|03|08|12|16|19|22|25)|2k(?P<short>3|8|12|16|19|22))(?!\d)"
    r"(?:\s*(?P<r2>r2)\b)?",
    re.I,
)
_WINDOWS_DESKTOP_RELEASE = re.compile(r"\b(xp|vista|8\.1|7|8|10|11)\b", re.I)
_WINDOWS_DESKTOP_NAMES = {"xp": "XP", "vista": "Vista"}
_WINDOWS_SERVER_WORD = re.compile(r"server|\bsrv", re.I)
_WINDOWS_NT_VERSION = re.compile(r"(\d+)\.(\d+)(?:\.(\d+))?")
# Exports often give the kernel version ("6.3.9600") in the version column.
_WINDOWS_NT_SERVER_RELEASES = {
    "6.0": "2008",
    "6.1": "2008 R2",
    "6.2": "2012",
    "6.3": "2012 R2",
    "10.0.14393": "2016",
    "10.0.17763": "2019",
    "10.0.20348": "2022",
    "10.0.26100": "2025",
}
_UBUNTU_CODENAMES = {
    "trusty": "14.04",
    "xenial": "16.04",
    "bionic": "18.04",
    "focal": "20.04",
    "jammy": "22.04",
    "noble": "24.04",
}
_DEBIAN_CODENAMES = {
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
}


def parse_os(name: Any, version: Any = None) -> OsInfo:
    return _parse(as_text(name), as_text(version))


@lru_cache(maxsize=4096)
def version_components(version: str) -> tuple[str, ...]:
    """A version's parts as the end-of-support table compares them: case aside, numbers as
    numbers ("18.04" and "18.4" are one release), "7.9" and "7 9" alike."""
    parts = _COMPONENT_SEPARATORS.split(version.strip().casefold())
    return tuple(str(int(part)) if part.isdecimal() else part for part in parts if part)


def refines(finer: str, coarser: str) -> bool:
    """Whether ``finer`` names the release ``coarser`` names, more precisely: "11 SP4" refines
    "11" and "7.9" refines "7"; "7.9" does not refine "8", nor "2012 R2" "2012 R2"."""
    fine, coarse = version_components(finer), version_components(coarser)
    return len(fine) > len(coarse) and fine[: len(coarse)] == coarse


def as_text(value: Any) -> str | None:
    """A cell as text to parse: a JSON number as its digits, blank and other values as None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def _numeric(text: str, start: int) -> _Found | None:
    match = _VERSION.search(text, start)
    return None if match is None else (match[0], match.start())


def _numeric_or_codename(codenames: dict[str, str]) -> _Extractor:
    pattern = re.compile(rf"\b({'|'.join(codenames)})\b", re.I)

    def extract(text: str, start: int) -> _Found | None:
        found = _numeric(text, start)
        if found is not None:
            return found
        match = pattern.search(text, start)
        return None if match is None else (codenames[match[1].casefold()], match.start())

    return extract


def _sles(text: str, start: int) -> _Found | None:
    match = _SLES_VERSION.search(text, start)
    if match is None:
        return None
    major, minor, service_pack, ga = match.groups()
    # os-release spells 12 SP5 as "12.5"; "15.0" and "15 GA" name the GA release, while "15"
    # alone says nothing of the service pack (the end-of-support table tells them apart).
    pack = service_pack or minor
    if pack is None and ga is None:
        return major, match.start()
    return (f"{major} SP{int(pack)}" if pack and int(pack) else f"{major} GA"), match.start()


def _aix(text: str, start: int) -> _Found | None:
    match = _AIX_OSLEVEL.search(text, start)
    if match is None:
        return _numeric(text, start)
    major, release, level, service_pack = match.groups()
    version = f"{major}.{release}.{int(level)}"
    return (f"{version}.{int(service_pack)}" if service_pack else version), match.start()


def _solaris(text: str, start: int) -> _Found | None:
    found = _numeric(text, start)
    if found is None:
        return None
    # There never was a Solaris 5: a 5.x is SunOS's numbering.
    sunos = _SUNOS_RELEASE.fullmatch(found[0])
    if sunos is None:
        return found
    release = int(sunos[1])
    return (str(release) if release >= 7 else f"2.{release}"), found[1]


def _centos_stream(text: str, start: int) -> _Found | None:
    # Stream releases end on other dates than CentOS Linux ones: the qualifier stays in the
    # version so that "Stream 8" never takes CentOS Linux 8's end of support.
    found = _numeric(text, start)
    return None if found is None else (f"Stream {found[0]}", found[1])


@dataclass(frozen=True)
class _Rule:
    family: str
    name: str | None  # None: the product name is the text before the version
    pattern: re.Pattern[str]
    version: _Extractor


def _rule(family: str, name: str | None, pattern: str, version: _Extractor = _numeric) -> _Rule:
    return _Rule(family, name, re.compile(pattern, re.I), version)


# Ordered: the first rule whose pattern occurs decides, so the specific ones come first
# ("CentOS Stream" before "CentOS", and Oracle and CentOS before "Red Hat compatible" text).
_RULES = (
    _rule("vmware_esxi", "VMware ESXi", r"\besxi?\b"),
    _rule("centos", "CentOS Stream", r"\bcentos\s*stream", _centos_stream),
    _rule("centos", "CentOS", r"\bcentos"),
    _rule(
        "oracle_linux", "Oracle Linux", r"\boracle\s*(?:enterprise\s*)?linux|\b(?:oel|ol)(?=\s?\d)"
    ),
    _rule("amazon_linux", "Amazon Linux", r"\bamazon\s*linux|\bamzn|\bal(?=2)"),
    _rule("rocky_linux", "Rocky Linux", r"\brocky"),
    _rule("almalinux", "AlmaLinux", r"\balma\s*linux"),
    _rule("rhel", "Red Hat Enterprise Linux", r"\bred\s*hat|\brhel"),
    _rule("sles", "SUSE Linux Enterprise Server", r"\bsles|\bsuse\b", _sles),
    _rule("ubuntu", "Ubuntu", r"\bubuntu", _numeric_or_codename(_UBUNTU_CODENAMES)),
    _rule("debian", "Debian", r"\bdebian", _numeric_or_codename(_DEBIAN_CODENAMES)),
    _rule("aix", "AIX", r"\baix", _aix),
    _rule("solaris", "Solaris", r"\bsolaris|\bsunos", _solaris),
    _rule("hpux", "HP-UX", r"\bhp[\s/-]?ux"),
    _rule("macos", "macOS", r"\bmac\s*os|\bos\s*x\b|\bdarwin"),
    _rule("linux", None, r"linux|\bfedora|\bopensuse|\balpine"),
)
# The rule that reads a family's versions, for a spelling of data/spellings.csv that names the
# family (the last of a family's rules: CentOS, not CentOS Stream).
_FAMILY_RULES = {rule.family: rule for rule in _RULES if rule.name is not None}
_SPELLINGS = spellings_of(_FAMILY_RULES)
# Checked before the rules: Windows releases have a grammar of their own ("2008 R2", "Win2k8",
# kernel builds in the version column), see _windows.
_WINDOWS = re.compile(r"\bwin(?:dows|\s*(?:\d|2k|srv|server|xp|nt|vista))|\bw2k", re.I)


@lru_cache(maxsize=4096)
def _parse(name: str | None, version: str | None) -> OsInfo:
    if name is None:
        return OsInfo(None, None, version)
    text = _NOISE.sub(" ", name)
    if _WINDOWS.search(text):
        return _windows(text, version)
    for spelling in _SPELLINGS:
        match = spelling.find(text)
        if match is not None:
            rule = _FAMILY_RULES[spelling.family]
            if spelling.version is not None:
                return _read(rule, text, (spelling.version, match.start()), name, version)
            return _read(rule, text, rule.version(text, match.end()), name, version)
    for rule in _RULES:
        match = rule.pattern.search(text)
        if match is not None:
            return _read(rule, text, rule.version(text, match.end()), name, version)
    return OsInfo("other", name, version)


def _read(rule: _Rule, text: str, found: _Found | None, name: str, version: str | None) -> OsInfo:
    product = rule.name
    if product is None:
        prefix = " ".join(text[: found[1]].split()) if found else ""
        product = prefix or name
    if found is not None and (_OR_LATER.search(text) or _RELEASE_LIST.match(text, found[1])):
        found = None
    if version is not None:
        column = rule.version(version, 0) or (version, 0)
        if found is None or refines(column[0], found[0]):
            found = column
    return OsInfo(rule.family, product, found[0] if found else None)


def _windows(text: str, version: str | None) -> OsInfo:
    release = None if _OR_LATER.search(text) else _windows_release(text)
    named_server = bool(_WINDOWS_SERVER_WORD.search(text))
    if release is None and version is not None:
        # Tried first: the desktop pattern would read "10.0.17763" (Server 2019) as Windows 10.
        nt_release = _windows_nt_server_release(version) if named_server else None
        release = (
            (nt_release, True) if nt_release else _windows_release(version) or (version, False)
        )
    if release is None:
        return OsInfo("windows", "Windows Server" if named_server else "Windows", None)
    release_name, server_release = release
    server = named_server or server_release
    return OsInfo("windows", "Windows Server" if server else "Windows", release_name)


def _windows_release(text: str) -> tuple[str, bool] | None:
    """The release and whether it is a server one: ("2008 R2", True) for "Win2k8R2"."""
    match = _WINDOWS_SERVER_RELEASE.search(text)
    if match is not None:
        year = match["year"] or f"{int(match['short']):02d}"
        return f"20{year}{' R2' if match['r2'] else ''}", True
    match = _WINDOWS_DESKTOP_RELEASE.search(text)
    if match is None:
        return None
    return _WINDOWS_DESKTOP_NAMES.get(match[1].casefold(), match[1]), False


def _windows_nt_server_release(version: str) -> str | None:
    match = _WINDOWS_NT_VERSION.match(version)
    if match is None:
        return None
    major, minor, build = match.groups()
    key = f"{major}.{minor}.{build}" if major == "10" else f"{major}.{minor}"
    return _WINDOWS_NT_SERVER_RELEASES.get(key)
