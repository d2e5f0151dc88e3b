from typing import Any

import pytest

from importer.discovery.os_parse import OsInfo, parse_os

WINDOWS_SERVER = "Windows Server"
RHEL = "Red Hat Enterprise Linux"
SLES = "SUSE Linux Enterprise Server"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Windows Server 2012 R2", OsInfo("windows", WINDOWS_SERVER, "2012 R2")),
        ("Microsoft Windows Server 2019 Standard", OsInfo("windows", WINDOWS_SERVER, "2019")),
        ("Win2k8 R2", OsInfo("windows", WINDOWS_SERVER, "2008 R2")),
        ("Windows 2008 R2", OsInfo("windows", WINDOWS_SERVER, "2008 R2")),
        ("W2K12R2", OsInfo("windows", WINDOWS_SERVER, "2012 R2")),
        ("Windows Server 2012", OsInfo("windows", WINDOWS_SERVER, "2012")),
        ("Windows Server 2022 Datacenter", OsInfo("windows", WINDOWS_SERVER, "2022")),
        ("Windows 10 Enterprise", OsInfo("windows", "Windows", "10")),
        ("Windows XP", OsInfo("windows", "Windows", "XP")),
        ("Windows", OsInfo("windows", "Windows", None)),
        ("Red Hat Enterprise Linux 7.9", OsInfo("rhel", RHEL, "7.9")),
        ("RHEL 8", OsInfo("rhel", RHEL, "8")),
        ("RHEL8.4", OsInfo("rhel", RHEL, "8.4")),
        ("Red Hat Enterprise Linux Server release 7.9 (Maipo)", OsInfo("rhel", RHEL, "7.9")),
        ("Red Hat Enterprise Linux 8 (64-bit)", OsInfo("rhel", RHEL, "8")),
        ("CentOS 7", OsInfo("centos", "CentOS", "7")),
        ("CentOS Linux 7 (Core)", OsInfo("centos", "CentOS", "7")),
        ("CentOS Linux release 7.9.2009 (Core)", OsInfo("centos", "CentOS", "7.9.2009")),
        ("CentOS Stream 9", OsInfo("centos", "CentOS Stream", "Stream 9")),
        ("Ubuntu 18.04 LTS", OsInfo("ubuntu", "Ubuntu", "18.04")),
        ("Ubuntu 22.04.3 LTS", OsInfo("ubuntu", "Ubuntu", "22.04.3")),
        ("Ubuntu Linux (64-bit)", OsInfo("ubuntu", "Ubuntu", None)),
        ("SLES 12 SP5", OsInfo("sles", SLES, "12 SP5")),
        ("SUSE Linux Enterprise Server 15 SP2", OsInfo("sles", SLES, "15 SP2")),
        ("SLES12SP5", OsInfo("sles", SLES, "12 SP5")),
        ("SLES 15.2", OsInfo("sles", SLES, "15 SP2")),
        ("SLES 15", OsInfo("sles", SLES, "15")),
        ("SLES 15.0", OsInfo("sles", SLES, "15 GA")),
        ("SUSE Linux Enterprise Server 12 GA", OsInfo("sles", SLES, "12 GA")),
        ("Debian 10", OsInfo("debian", "Debian", "10")),
        ("Debian GNU/Linux 11 (bullseye)", OsInfo("debian", "Debian", "11")),
        ("Debian buster", OsInfo("debian", "Debian", "10")),
        ("Oracle Linux 7", OsInfo("oracle_linux", "Oracle Linux", "7")),
        ("Oracle Linux Server 8.6", OsInfo("oracle_linux", "Oracle Linux", "8.6")),
        ("OEL6", OsInfo("oracle_linux", "Oracle Linux", "6")),
        ("Amazon Linux 2", OsInfo("amazon_linux", "Amazon Linux", "2")),
        ("Amazon Linux AMI 2018.03", OsInfo("amazon_linux", "Amazon Linux", "2018.03")),
        ("amzn2", OsInfo("amazon_linux", "Amazon Linux", "2")),
        ("AIX 7.2", OsInfo("aix", "AIX", "7.2")),
        ("Solaris 11", OsInfo("solaris", "Solaris", "11")),
        ("HP-UX B.11.31", OsInfo("hpux", "HP-UX", "11.31")),
        ("VMware ESXi 6.7", OsInfo("vmware_esxi", "VMware ESXi", "6.7")),
        ("VMware ESXi 6.7.0 build-8169922", OsInfo("vmware_esxi", "VMware ESXi", "6.7.0")),
        ("macOS 13.4", OsInfo("macos", "macOS", "13.4")),
        ("Mac OS X 10.15", OsInfo("macos", "macOS", "10.15")),
        ("Rocky Linux 8.6", OsInfo("rocky_linux", "Rocky Linux", "8.6")),
        ("AlmaLinux 9.2 (x86_64)", OsInfo("almalinux", "AlmaLinux", "9.2")),
        ("Linux", OsInfo("linux", "Linux", None)),
        ("Other 3.x Linux (64-bit)", OsInfo("linux", "Other 3.x Linux (64-bit)", None)),
        ("FreeBSD 13.1", OsInfo("other", "FreeBSD 13.1", None)),
        ("  z/OS  ", OsInfo("other", "z/OS", None)),
    ],
)
def test_parse_os(text: str, expected: OsInfo) -> None:
    assert parse_os(text) == expected


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("RHEL", "7.9", OsInfo("rhel", RHEL, "7.9")),
        ("Windows Server", "2012 R2", OsInfo("windows", WINDOWS_SERVER, "2012 R2")),
        ("Windows Server", "6.3.9600", OsInfo("windows", WINDOWS_SERVER, "2012 R2")),
        ("Microsoft Windows Server", "10.0.17763", OsInfo("windows", WINDOWS_SERVER, "2019")),
        # 6.1 is Windows 7 as well as 2008 R2: without "Server" the build is kept as given.
        ("Microsoft Windows", "6.1.7601", OsInfo("windows", "Windows", "6.1.7601")),
        ("SLES", "12.5", OsInfo("sles", SLES, "12 SP5")),
        ("SUSE", "15 SP4", OsInfo("sles", SLES, "15 SP4")),
        ("Ubuntu", "bionic", OsInfo("ubuntu", "Ubuntu", "18.04")),
        ("CentOS", 7, OsInfo("centos", "CentOS", "7")),
        ("Ubuntu", 18.04, OsInfo("ubuntu", "Ubuntu", "18.04")),
        ("Debian", "  ", OsInfo("debian", "Debian", None)),
        ("FreeBSD", "13.1", OsInfo("other", "FreeBSD", "13.1")),
        ("Rocky Linux", "8.6", OsInfo("rocky_linux", "Rocky Linux", "8.6")),
        ("HP/UX", "B.11.23", OsInfo("hpux", "HP-UX", "11.23")),
        ("AIX", "7200-05-03-2148", OsInfo("aix", "AIX", "7.2.5.3")),
    ],
)
def test_version_column_is_used_when_the_name_has_none(
    name: str, version: Any, expected: OsInfo
) -> None:
    assert parse_os(name, version) == expected


def test_version_in_the_name_wins_over_the_column() -> None:
    assert parse_os("RHEL 8", "7.9") == OsInfo("rhel", RHEL, "8")
    assert parse_os("Windows Server 2016", "6.3.9600") == OsInfo("windows", WINDOWS_SERVER, "2016")
    assert parse_os("SLES 12 SP5", "12.4") == OsInfo("sles", SLES, "12 SP5")


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("SUSE Linux Enterprise 11 (64-bit)", "11 SP4", OsInfo("sles", SLES, "11 SP4")),
        ("CentOS 7", "7.9.2009", OsInfo("centos", "CentOS", "7.9.2009")),
        ("Ubuntu 18.04 LTS", "18.04.6", OsInfo("ubuntu", "Ubuntu", "18.04.6")),
    ],
)
def test_the_column_wins_when_it_names_the_same_release_more_precisely(
    name: str, version: str, expected: OsInfo
) -> None:
    assert parse_os(name, version) == expected


# Spellings of the OS as each discovery tool exports it: the name column, the version column when
# the tool has one, and the family and version the end-of-support table needs from them.
@pytest.mark.parametrize(
    ("name", "version", "family", "expected"),
    [
        # ServiceNow CMDB: the vendor last, the release in os_version.
        ("Linux Oracle", "7.9", "oracle_linux", "7.9"),
        ("Linux Red Hat", "6.10", "rhel", "6.10"),
        ("Linux SuSE", "12 SP3", "sles", "12 SP3"),
        ("Windows 2008 R2", None, "windows", "2008 R2"),
        ("HP/UX", "B.11.31", "hpux", "11.31"),
        # Device42 and ServiceNow.
        ("Windows Server 2012 R2 Datacenter", None, "windows", "2012 R2"),
        ("Red Hat Enterprise Linux Server", "7.9", "rhel", "7.9"),
        ("Ubuntu 18.04.6 LTS", None, "ubuntu", "18.04.6"),
        ("Debian GNU/Linux 9 (stretch)", None, "debian", "9"),
        ("AIX 7.2", None, "aix", "7.2"),
        ("Solaris 11.4", None, "solaris", "11.4"),
        ("HP-UX B.11.31", None, "hpux", "11.31"),
        ("HP-UX 11i v2", None, "hpux", "11.23"),
        ("SunOS 5.10", None, "solaris", "10"),
        ("Oracle Solaris 10 1/13 s10x_u11wos_24a X86", None, "solaris", "10"),
        # RVTools vInfo, the guest OS of a VM's configuration file.
        ("Red Hat Enterprise Linux 5 (64-bit)", None, "rhel", "5"),
        ("CentOS 6.10", None, "centos", "6.10"),
        ("Microsoft Windows Server 2003 Standard (32-bit)", None, "windows", "2003"),
        ("SUSE Linux Enterprise 11 (64-bit)", "11 SP4", "sles", "11 SP4"),
        # RVTools vHost, the hypervisor.
        ("VMware ESXi 7.0.3 build-20328353", None, "vmware_esxi", "7.0.3"),
        ("VMware ESXi 6.7.0", None, "vmware_esxi", "6.7.0"),
        # Azure Migrate and AWS.
        ("Microsoft Windows Server 2019 Datacenter", None, "windows", "2019"),
        ("CentOS Linux 7 (Core)", None, "centos", "7"),
        ("Amazon Linux 2", None, "amazon_linux", "2"),
    ],
)
def test_each_tools_spelling(name: str, version: str | None, family: str, expected: str) -> None:
    info = parse_os(name, version)
    assert (info.family, info.version) == (family, expected)


# VMware's guest OS names are what the VM is configured for: a lower bound or several releases.
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "Microsoft Windows Server 2016 or later (64-bit)",
            OsInfo("windows", WINDOWS_SERVER, None),
        ),
        ("CentOS 4/5 or later (64-bit)", OsInfo("centos", "CentOS", None)),
        ("CentOS 4/5/6/7 (64-bit)", OsInfo("centos", "CentOS", None)),
        ("Oracle Linux 4/5/6/7 (64-bit)", OsInfo("oracle_linux", "Oracle Linux", None)),
        ("SUSE Linux Enterprise 8/9 (64-bit)", OsInfo("sles", SLES, None)),
        ("VMware ESXi 6.5 or later", OsInfo("vmware_esxi", "VMware ESXi", None)),
    ],
)
def test_a_lower_bound_or_a_choice_of_releases_gives_no_version(
    name: str, expected: OsInfo
) -> None:
    assert parse_os(name) == expected


def test_a_lower_bound_leaves_the_version_to_the_column() -> None:
    name = "Microsoft Windows Server 2016 or later (64-bit)"
    assert parse_os(name, "10.0.17763") == OsInfo("windows", WINDOWS_SERVER, "2019")
    assert parse_os("CentOS 4/5 or later (64-bit)", "6.10") == OsInfo("centos", "CentOS", "6.10")


@pytest.mark.parametrize("name", [None, "", "   ", [], {"os": "Linux"}, True])
def test_blank_or_unusable_name(name: Any) -> None:
    assert parse_os(name) == OsInfo(None, None, None)
    assert parse_os(name, "7") == OsInfo(None, None, "7")


def test_json_number_name() -> None:
    assert parse_os(2019) == OsInfo("other", "2019", None)


@pytest.mark.parametrize(
    ("name", "family", "version"),
    [
        ("Rocky Linux 8.6 (Green Obsidian)", "rocky_linux", "8.6"),
        ("Rocky Linux 9.3", "rocky_linux", "9.3"),
        ("AlmaLinux 9.2 (Turquoise Kodkod)", "almalinux", "9.2"),
        ("Alma Linux 8", "almalinux", "8"),
    ],
)
def test_rhel_rebuilds_are_families_of_their_own(name: str, family: str, version: str) -> None:
    info = parse_os(name, None)
    assert (info.family, info.version) == (family, version)
