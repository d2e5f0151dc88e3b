"""Operating system family, product name and version from the free text of inventory exports.

"Microsoft Windows Server 2012 R2 Standard (64-bit)", "RHEL8.4" or "SLES 12 SP5" become an
OsInfo whose family and version key the end-of-support table. A version found in the name wins
over the separate version column, which is used only when the name has none.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

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
_SLES_VERSION = re.compile(r"(\d+)(?:\.(\d+))?(?:\s*(?:sp|service\s*pack)\s*(\d+))?", re.I)
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
    return _parse(_text(name), _text(version))


def _text(value: Any) -> str | None:
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
    major, minor, service_pack = match.groups()
    # os-release spells 12 SP5 as "12.5"; "15.0" is the GA release.
    pack = int(service_pack or minor or 0)
    return (f"{major} SP{pack}" if pack else major), match.start()


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
    _rule("rhel", "Red Hat Enterprise Linux", r"\bred\s*hat|\brhel"),
    _rule("sles", "SUSE Linux Enterprise Server", r"\bsles|\bsuse\b", _sles),
    _rule("ubuntu", "Ubuntu", r"\bubuntu", _numeric_or_codename(_UBUNTU_CODENAMES)),
    _rule("debian", "Debian", r"\bdebian", _numeric_or_codename(_DEBIAN_CODENAMES)),
    _rule("aix", "AIX", r"\baix"),
    _rule("solaris", "Solaris", r"\bsolaris|\bsunos"),
    _rule("hpux", "HP-UX", r"\bhp[\s-]?ux"),
    _rule("macos", "macOS", r"\bmac\s*os|\bos\s*x\b|\bdarwin"),
    _rule("linux", None, r"linux|\bfedora|\brocky|\balma|\bopensuse|\balpine"),
)
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
    for rule in _RULES:
        match = rule.pattern.search(text)
        if match is None:
            continue
        found = rule.version(text, match.end())
        product = rule.name
        if product is None:
            prefix = " ".join(text[: found[1]].split()) if found else ""
            product = prefix or name
        if found is None and version is not None:
            found = rule.version(version, 0) or (version, 0)
        return OsInfo(rule.family, product, found[0] if found else None)
    return OsInfo("other", name, version)


def _windows(text: str, version: str | None) -> OsInfo:
    release = _windows_release(text)
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
