"""A seeded, messy CMDB export: what real users upload, with the defects counted.

Used by the tests, the benchmark and ``importer sample-export`` for a first try of the service.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

HEADER = [
    "Host Name",
    "IP Addr",
    "RAM (GB)",
    "CPU Cores",
    "Operating System",
    "Environment",
    "Owner",
    "Serial No",
    "Depends On",
    "Notes",
]
OPERATING_SYSTEMS = [
    "Windows Server 2012 R2",
    "Windows Server 2019",
    "Red Hat Enterprise Linux 7.9",
    "RHEL 8",
    "Ubuntu 18.04 LTS",
    "Ubuntu 22.04",
    "CentOS 7",
    "SLES 12 SP5",
]
ENVIRONMENTS = ["prod", "PROD", "Production", "dev", "Development", "test", "UAT", "staging"]
OWNERS = ["Alice Martin", "Bob Chen", "Carla Diaz", "Dev Patel", "Team Payments"]


@dataclass
class ExportStats:
    rows: int = 0
    issues: Counter = field(default_factory=Counter)

    @property
    def invalid_rows(self) -> int:
        return sum(self.issues.values())

    @property
    def valid_rows(self) -> int:
        return self.rows - self.invalid_rows


def _clean_row(rng: random.Random, number: int) -> list[str]:
    ram = rng.choice(["4", "8", "16GB", "32 GB", "64", "128"])
    notes = rng.choice(["", "", "legacy", 'vendor said "do not touch", ever', "line one\nline two"])
    depends = ";".join(f"srv-{rng.randrange(1, number + 1):05d}" for _ in range(rng.randrange(3)))
    return [
        f"srv-{number:05d}.corp.example",
        f"10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}",
        ram,
        str(rng.choice([1, 2, 4, 8, 16])),
        rng.choice(OPERATING_SYSTEMS),
        rng.choice(ENVIRONMENTS),
        rng.choice(OWNERS),
        f"SN{rng.randrange(10**8):08d}",
        depends,
        notes,
    ]


def messy_rows(rows: int, seed: int = 7) -> Iterator[tuple[list[str], str | None]]:
    """Data rows with the defect each carries (None for a clean row), defects one per row."""
    rng = random.Random(seed)
    last_clean: list[str] | None = None
    for number in range(1, rows + 1):
        roll = rng.random()
        if roll < 0.01 and last_clean is not None:
            yield list(last_clean), "duplicate-row"
        elif roll < 0.02:
            row = _clean_row(rng, number)
            row[1] = rng.choice(["10.0.0.999", "not-an-ip", "192.168.1"])
            yield row, "type-error"
        elif roll < 0.03:
            row = _clean_row(rng, number)
            row[0] = rng.choice(["", "   "])
            yield row, "required-value"
        elif roll < 0.035:
            yield [""] * len(HEADER), "blank-row"
        else:
            last_clean = _clean_row(rng, number)
            yield last_clean, None


def write_messy_csv(out: io.TextIOBase, rows: int, seed: int = 7) -> ExportStats:
    stats = ExportStats()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row, defect in messy_rows(rows, seed):
        writer.writerow(row)
        stats.rows += 1
        if defect:
            stats.issues[defect] += 1
    return stats


def messy_csv_bytes(rows: int, seed: int = 7) -> tuple[bytes, ExportStats]:
    buffer = io.StringIO()
    stats = write_messy_csv(buffer, rows, seed)
    return buffer.getvalue().encode("utf-8"), stats
