"""asset_inventory: create or update one asset per real thing, across rows and imports.

Rows are matched to the client account's assets by their keys (importer.discovery.identity),
strongest first: the machine's UUID, its serial number, the exporting tool's record id
(source_id), its hostname key, and last its primary IP. Importing the same export twice updates
the inventory instead of doubling it. A key finds an asset only when nothing contradicts it
(CONTRADICTING): a serial number or record id whose asset has another UUID is not that asset (a
clone, a board moved), and an IP finds an asset only when the row's hostname key, UUID and serial
number agree with the asset's wherever both have one: two hostnames that share an IP (a DR copy,
a clone) stay two assets. A hostname key that is an IP address is no name and contradicts none.
UUIDs and hostnames are never contradicted: a renamed VM keeps its UUID, and hostnames are unique
within an account. Every row records the key it was matched by (asset_sources.matched_on).

A match only merges when it is sure enough: its confidence (importer.discovery.match_confidence)
at least the account's merge_review_threshold. A weaker one (an IP alone; a short name under
another DNS domain) waits for review: the row makes an asset of its own, and an asset_merges row
pairs it, pending, with the asset the key found. Reviewed (approved or split), or still pending,
the pair is known by that asset and the row's keys: a later row with the same keys that finds
the asset weakly again lands where the review put it (the asset, once approved; the row's own,
while pending or once split), and is not proposed again. importer.services.merge_review applies
a review, with this module's precedence.

What a matched row changes in its asset (per attribute):
- A blank never erases a value.
- Attributes and the asset's columns: the newer import's value wins; within an import, the later
  row's. An import older than the one that last described the asset (data_imports.created_at;
  a re-run of an old import) only fills blanks.
- Identity (uuid, serial number, source id, hostname key, primary IP, name): the first row of a
  newer import than the asset's last one sets it (a corrected IP replaces the wrong one); other
  rows of that import, and older imports, only fill blanks. A key value is never taken over
  from another asset of the account that holds it (the asset keeps its own), a hostname key that
  is an IP never replaces a name, and the name follows the hostname key (it changes with it).
- asset_type: by the strength of its evidence (TYPE_RANK), never the last row's alone. "server"
  is no evidence and replaces nothing; a database, network device or storage guess beats it; a
  virtual machine (a virtual flag, a virtual host, a VM model) beats those; a hypervisor and a
  VM template beat everything. A newer row wins at the same rank, and its own is_virtual or
  is_template flag decides whatever the rank (is_virtual true makes a VM of anything but a
  template; false undoes a VM or template, is_template false a template). An import of type
  dependencies never changes a type.

Most rows of an export name an asset no other row and no existing asset names: PostgreSQL
creates those assets straight from the cleaned records (whose keys the cleansing computed). The
rows that share a key with another row or with an existing asset are matched and merged in
Python, in row order. Both kinds of row go range by range, each range a chunk run of its own
(importer.pipeline.chunks), the chunks one after the other in row order: a later row of the
import sees what an earlier one made. Rows of the first kind touch nothing the others can find,
so the split changes no outcome.

One import at a time writes an account's inventory (InventoryLease): from the start of its phase
to its finish, or to the discard that a cancel plans. Each chunk saves the assets it is the first
of the import to change as they were (inventory_displaced): a cancel deletes what the import
made and restores those; the finish counts them updated or unchanged.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import TextClause, delete, func, select, text
from sqlalchemy.orm import Session

from importer import json_codec
from importer.discovery.classify import classify_asset
from importer.discovery.identity import identity
from importer.discovery.match_confidence import confidences, fqdn, kind_of
from importer.models import Asset, AssetSource, ClientAccount, DataImport, FlowPhase, Run
from importer.models.asset import ACCOUNT_SCAN
from importer.services.phases.data_cleansing import import_tool
from importer.services.phases.tech_debt import end_of_support_table
from importer.services.step_runner import WorkContext
from importer.services.transactions import ImportTransactionManager

log = logging.getLogger(__name__)

# The asset's own columns, taken from its clean fields; everything else stays in attributes.
COLUMNS = ("os_family", "os_name", "os_version", "environment", "cpu_cores", "memory_gb")
# The keys, in the order they are tried, and what asset_sources.matched_on calls each.
KEYS = ("uuid", "serial_number", "source_id", "hostname_key", "primary_ip")
MATCHED_ON = {
    "uuid": "uuid",
    "serial_number": "serial",
    "source_id": "source_id",
    "hostname_key": "hostname",
    "primary_ip": "ip",
}
# A key's asset is not the row's when one of these keys differs between them (both present).
CONTRADICTING: dict[str, tuple[str, ...]] = {
    "uuid": (),
    "serial_number": ("uuid",),
    "source_id": ("uuid",),
    "hostname_key": (),
    "primary_ip": ("uuid", "serial_number", "hostname_key"),
}
IDENTITY = (*KEYS, "name")
# The keys of a row as MATCHED_ROWS reads them (after its row number and data), and the
# look-up arrays of KNOWN_BY_KEYS they go into.
ROW_KEYS = ("hostname_key", "serial_number", "primary_ip", "uuid", "source_id")
ROW_KEY_VALUES = ("keys", "serials", "ips", "uuids", "source_ids")
# The strength of the evidence a type rests on (see the module's docstring).
TYPE_RANK = {
    "server": 0,
    "application": 1,
    "database": 1,
    "network_device": 1,
    "storage": 1,
    "virtual_machine": 2,
    "hypervisor": 3,
    "vm_template": 3,
}
# Set by the tech_debt_assessment phase; the inventory writes them as of today (so that the
# phase's join finds nothing to rewrite), but they are not what an import changes in an asset.
EOS = ("eos_severity", "end_of_support", "eos_source")
# What an asset is made of: compared before and after an import to tell updated from unchanged.
COMPARED = (
    "hostname_key",
    "serial_number",
    "primary_ip",
    "uuid",
    "source_id",
    "name",
    "asset_type",
    *COLUMNS,
    "is_virtual",
    "attributes",
)
WRITTEN = (*COMPARED, *EOS, "last_import_id")
KNOWN_COLUMNS = [c for c in Asset.__table__.columns if c.key not in ("created_at", "updated_at")]

# Key values that more than one row of the import carries: their rows go through Python. Filled
# by the planner (prepare), read by every chunk, cleared by the finish or the discard.
SHARED_KIND = dict(zip(ROW_KEYS, "ksiur", strict=True))
FILL_SHARED = text(
    "INSERT INTO inventory_shared_keys (import_id, kind, value) "
    + " UNION ALL ".join(
        f"""
        SELECT :import_id, '{kind}', {column} FROM cleaned_records
        WHERE import_id = :import_id AND {column} IS NOT NULL
        GROUP BY {column} HAVING count(*) > 1
        """
        for column, kind in SHARED_KIND.items()
    )
)
CLEAR_SHARED = text("DELETE FROM inventory_shared_keys WHERE import_id = :import_id")
# A range's, read by the primary key like every range of the import's rows.
OS_PAIRS = text(
    """
    SELECT DISTINCT data ->> 'os_family', data ->> 'os_version' FROM cleaned_records
    WHERE import_id = :import_id AND row_number > :after AND row_number <= :upto
      AND data ->> 'os_family' IS NOT NULL AND data ->> 'os_version' IS NOT NULL
    """
)
LAST_ROW = text("SELECT max(row_number) FROM cleaned_records WHERE import_id = :import_id")
# Rows cleansed before the cleansing stored asset keys (an import in flight across an upgrade).
# One transaction cleanses an import, so its first row tells for all.
UNKEYED_FIRST = text(
    """
    SELECT asset_type IS NULL FROM cleaned_records
    WHERE import_id = :import_id
      AND row_number = (SELECT min(row_number) FROM cleaned_records WHERE import_id = :import_id)
    """
)
UNKEYED = text(
    """
    SELECT row_number, data FROM cleaned_records
    WHERE import_id = :import_id AND asset_type IS NULL
    """
)
SET_KEYS = text(
    """
    UPDATE cleaned_records c
    SET hostname_key = k.hostname_key, serial_number = k.serial_number,
        primary_ip = k.primary_ip, uuid = k.uuid, source_id = k.source_id,
        asset_type = k.asset_type
    FROM unnest(
        CAST(:row_numbers AS integer[]), CAST(:keys AS text[]), CAST(:serials AS text[]),
        CAST(:ips AS text[]), CAST(:uuids AS text[]), CAST(:source_ids AS text[]),
        CAST(:types AS text[])
    ) AS k (row_number, hostname_key, serial_number, primary_ip, uuid, source_id, asset_type)
    WHERE c.import_id = :import_id AND c.row_number = k.row_number
    """
)
# A row is matched in Python when one of its keys is shared within the import or names an
# asset the account had before (an account without assets spares PostgreSQL those look-ups).
# Each look-up is a scalar subquery, one index probe a row (the primary key of the shared keys,
# a key's index of the assets), which PostgreSQL cannot turn into hashing every shared key or
# every asset of the account for each range, whatever the statistics say (as EXISTS over the
# assets, with statistics taken before a large import, it hashed 100k assets twice a range: 1M
# rows into such an account took 169 s instead of 22).
SHARED_KEY = " OR ".join(
    f"""
    coalesce((SELECT true FROM inventory_shared_keys s WHERE s.import_id = :import_id
              AND s.kind = '{kind}' AND s.value = c.{column}), false)
    """
    for column, kind in SHARED_KIND.items()
)
KNOWN_KEY = "".join(
    f"""
    OR coalesce((SELECT true FROM assets a WHERE a.client_account_id = :account
                 AND a.{column} = c.{column} LIMIT 1), false)
    """
    for column in ROW_KEYS
)
# The account's assets with any of a range's keys: one look-up a key (OFFSET 0 keeps each apart,
# an equality on both columns of the key's index). As "account = :a AND (key = ANY(..) OR ..)",
# with statistics taken before the account had assets, PostgreSQL read all of the account's
# assets and filtered them, for each range (1M rows into a new account: 1.3 s a range by the
# middle of the import, 191 s in all). Each key's index is partial on its key (migrations 0007
# and 0010), so a look-up by one key can take no other key's index.
KNOWN_BY_KEYS = text(
    " UNION ALL ".join(
        f"""
        SELECT a.* FROM unnest(CAST(:{values} AS text[])) AS k (value)
        CROSS JOIN LATERAL (
            SELECT {", ".join(c.key for c in KNOWN_COLUMNS)} FROM assets
            WHERE client_account_id = :account AND {column} = k.value OFFSET 0
        ) a
        """
        for column, values in zip(ROW_KEYS, ROW_KEY_VALUES, strict=True)
    )
)
# The reviews (pending, approved or split) of the pairs the range's assets make, each found by
# its asset, one index probe each whatever the statistics say.
REVIEWS_OF = text(
    """
    SELECT m.asset_id, m.row_keys, m.status, m.proposed_asset_id
    FROM unnest(CAST(:ids AS uuid[])) AS k (id)
    CROSS JOIN LATERAL (
        SELECT asset_id, row_keys, status, proposed_asset_id FROM asset_merges
        WHERE asset_id = k.id OFFSET 0
    ) m
    """
)
ANY_REVIEW = text("SELECT EXISTS (SELECT 1 FROM asset_merges WHERE client_account_id = :account)")
ASSETS_BY_ID = text(
    f"SELECT {', '.join(c.key for c in KNOWN_COLUMNS)} FROM assets "
    "WHERE id = ANY(CAST(:ids AS uuid[]))"
)
THRESHOLD = select(ClientAccount.merge_review_threshold)
# When the imports that last described the matched assets were made: an older import than an
# asset's last one only fills its blanks.
IMPORT_TIMES = text("SELECT id, created_at FROM data_imports WHERE id = ANY(CAST(:ids AS uuid[]))")
ANY_OTHER_ASSET = text(
    f"""
    SELECT EXISTS (
        SELECT 1 FROM assets WHERE client_account_id = :account AND {ACCOUNT_SCAN}
          AND first_import_id IS DISTINCT FROM :import_id
    )
    """
)
RANGE = """
    c.import_id = :import_id AND c.client_account_id = :account
    AND c.row_number > :after AND c.row_number <= :upto
"""
# What the range's creation left to Python, read once it is done: the rows it gave no source.
# The keys are thus tested once a row, and the assets just created cannot be matched by these
# rows (a key they share with a created row's is shared within the import: neither is created).
MATCHED_ROWS = text(
    f"""
    SELECT c.row_number, c.data, c.hostname_key, c.serial_number, c.primary_ip, c.uuid,
           c.source_id, c.asset_type
    FROM cleaned_records c
    WHERE {RANGE}
      AND c.row_number NOT IN (
          SELECT s.row_number FROM asset_sources s
          WHERE s.import_id = :import_id AND s.row_number > :after AND s.row_number <= :upto
      )
    ORDER BY c.row_number
    """
)
# Asset ids that grow with time (the millisecond first, then 74 random bits): the assets of an
# import are then neighbours in the primary key and in every index and join on asset ids, where
# random UUIDs scatter a million inserts and look-ups over indexes larger than the cache.
ORDERED_ID = """(
    overlay(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
            PLACING '-' FROM 9 FOR 0)
    || substr(gen_random_uuid()::text, 14)
)::uuid"""
# The columns as AssetInventoryPhase._fields makes them: a name is the first non-empty of three
# fields; a core count only when it fits the 32-bit column; absent values are no attributes.
CREATE_UNMATCHED = f"""
    WITH unmatched AS (
        SELECT {ORDERED_ID} AS id, c.row_number, c.hostname_key, c.serial_number,
               c.primary_ip, c.uuid, c.source_id, c.asset_type, c.data
        FROM cleaned_records c
        WHERE {{range}} AND NOT ({{matched}})
    ), created AS (
        INSERT INTO assets (id, client_account_id, first_import_id, {", ".join(WRITTEN)})
        SELECT u.id, :account, :import_id, u.hostname_key, u.serial_number, u.primary_ip,
            u.uuid, u.source_id,
            coalesce(nullif(u.data ->> 'hostname', ''), nullif(u.data ->> 'name', ''),
                     nullif(u.data ->> 'fqdn', '')),
            u.asset_type, u.data ->> 'os_family', u.data ->> 'os_name', u.data ->> 'os_version',
            u.data ->> 'environment',
            CASE WHEN jsonb_typeof(u.data -> 'cpu_cores') = 'number'
                      AND u.data ->> 'cpu_cores' ~ '^[0-9]+$'
                      AND length(u.data ->> 'cpu_cores') <= 10
                      AND (u.data ->> 'cpu_cores')::bigint < 2147483648
                 THEN (u.data ->> 'cpu_cores')::integer END,
            CASE WHEN jsonb_typeof(u.data -> 'memory_gb') = 'number'
                 THEN (u.data ->> 'memory_gb')::double precision END,
            CASE WHEN jsonb_typeof(u.data -> 'is_virtual') = 'boolean'
                 THEN (u.data -> 'is_virtual')::boolean END,
            jsonb_strip_nulls(u.data),
            coalesce(v.severity, 'unknown'), v.eos, v.source, :import_id
        FROM unmatched u
        LEFT JOIN unnest(
            CAST(:families AS text[]), CAST(:versions AS text[]), CAST(:severities AS text[]),
            CAST(:dates AS date[]), CAST(:sources AS text[])
        ) AS v (family, version, severity, eos, source)
            ON v.family = u.data ->> 'os_family' AND v.version = u.data ->> 'os_version'
        RETURNING asset_type
    ), sourced AS (
        INSERT INTO asset_sources (import_id, row_number, asset_id, client_account_id, matched_on)
        SELECT :import_id, row_number, id, :account, 'created' FROM unmatched
    )
    SELECT asset_type, count(*) FROM created GROUP BY asset_type
"""


def creation(known_assets: bool) -> TextClause:
    """The creation of one range's rows that need no matching in Python."""
    matched = SHARED_KEY + (KNOWN_KEY if known_assets else "")
    return text(CREATE_UNMATCHED.format(range=RANGE, matched=matched))


COPY_ASSETS = (
    f"COPY assets (id, client_account_id, first_import_id, {', '.join(WRITTEN)}) FROM STDIN"
)
COPY_SOURCES = (
    "COPY asset_sources (import_id, row_number, asset_id, client_account_id, matched_on) FROM STDIN"
)
COPY_MERGES = (
    "COPY asset_merges (id, client_account_id, asset_id, proposed_asset_id, import_id, row_number,"
    " matched_on, match_kind, confidence, row_keys, status) FROM STDIN"
)
# Changed assets go through a temporary table: one UPDATE per range instead of one per asset.
CHANGES_TABLE = text(
    f"""
    CREATE TEMP TABLE IF NOT EXISTS asset_changes ON COMMIT DROP AS
    SELECT id, {", ".join(WRITTEN)} FROM assets WITH NO DATA
    """
)
COPY_CHANGES = f"COPY asset_changes (id, {', '.join(WRITTEN)}) FROM STDIN"
# The assets by their ids, as well as by the join: found through the primary key whatever the
# statistics say. Joined alone, with statistics taken when the account had 120k assets,
# PostgreSQL hashed the changes and read every asset of the table for each range (1M rows into
# such an account: 31 s in this statement, 0.3 s a range by the end).
APPLY_CHANGES = f"""
    UPDATE assets a SET {", ".join(f"{c} = x.{c}" for c in WRITTEN)}, updated_at = now()
    FROM asset_changes x WHERE a.id = ANY(%(ids)s) AND a.id = x.id
"""


# The first time a chunk of the import changes an asset that existed before it: the asset as it
# was (by its primary key, whatever the statistics say).
SAVE_DISPLACED = text(
    """
    INSERT INTO inventory_displaced (import_id, asset_id, row)
    SELECT :import_id, a.id, to_jsonb(a) FROM assets a WHERE a.id = ANY(CAST(:ids AS uuid[]))
    ON CONFLICT (import_id, asset_id) DO NOTHING
    """
)
CLEAR_DISPLACED = text("DELETE FROM inventory_displaced WHERE import_id = :import_id")
# The import's displaced assets by their type now, updated or not: what they are made of
# (COMPARED) against what they were, as JSON (16 and 16.0 are one number there too).
_NOW = ", ".join(f"'{c}', a.{c}" for c in COMPARED)
_BEFORE = ", ".join(f"'{c}', d.row -> '{c}'" for c in COMPARED)
DISPLACED_COUNTS = text(
    f"""
    SELECT a.asset_type,
           count(*) FILTER (WHERE jsonb_build_object({_NOW}) <> jsonb_build_object({_BEFORE})),
           count(*) FILTER (WHERE jsonb_build_object({_NOW}) = jsonb_build_object({_BEFORE}))
    FROM inventory_displaced d JOIN assets a ON a.id = d.asset_id
    WHERE d.import_id = :import_id
    GROUP BY a.asset_type
    """
)
# Whether the import's inventory phase succeeded once: what it made is then no unfinished
# attempt's output (a finished import's phase run again only replaces its sources).
FINISHED_BEFORE = text(
    f"""
    SELECT EXISTS (
        SELECT 1 FROM runs WHERE import_id = :import_id AND kind = 'phase'
          AND name = '{FlowPhase.ASSET_INVENTORY.value}' AND status = 'succeeded'
    )
    """
)
CLEAR_SOURCES = text("DELETE FROM asset_sources WHERE import_id = :import_id")
# An unfinished phase's inventory undone: its proposals and the assets it made deleted, then the
# assets it changed as they were. Their host names first cleared: one may hold another's name
# until that one gets it back.
_RESTORED = (*WRITTEN, "updated_at")
UNDO = (
    text(
        """
        DELETE FROM asset_merges WHERE client_account_id = :account AND status = 'pending'
          AND import_id = :import_id
        """
    ),
    text("DELETE FROM assets WHERE first_import_id = :import_id AND client_account_id = :account"),
    text(
        """
        UPDATE assets a SET hostname_key = NULL FROM inventory_displaced d
        WHERE d.import_id = :import_id AND a.id = d.asset_id
        """
    ),
    text(
        f"""
        UPDATE assets a SET {", ".join(f"{c} = r.{c}" for c in _RESTORED)}
        FROM inventory_displaced d CROSS JOIN LATERAL jsonb_populate_record(NULL::assets, d.row) r
        WHERE d.import_id = :import_id AND a.id = d.asset_id
        """
    ),
)


@dataclass(frozen=True)
class Proposal:
    """A match too weak to merge: the asset the key found, and why it is not sure enough."""

    asset: dict
    matched_on: str
    kind: str
    confidence: float
    row_keys: dict[str, str]


def row_keys(keys: dict[str, str | None], row_fqdn: str | None) -> dict[str, str]:
    """What a weakly matched row is known by: its keys, and its FQDN when it has one."""
    known_by = {column: value for column, value in keys.items() if value}
    return {**known_by, "fqdn": row_fqdn} if row_fqdn else known_by


def review_key(asset_id: uuid.UUID, keys: dict[str, str]) -> tuple:
    return asset_id, tuple(sorted(keys.items()))


@dataclass
class Known:
    """The assets of this client account a range's rows may name, by each of their keys.

    Each key value lists the assets that hold it, oldest first (serials, record ids and IPs may
    be shared); assets created or re-keyed while the range is matched are added as they change.
    A match below ``threshold`` is no merge: it lands where a review of the same pair put such a
    row (``reviewed``), or is proposed for review.
    """

    index: dict[str, dict[str, list[dict]]] = field(
        default_factory=lambda: {column: {} for column in KEYS}
    )
    # Hostname keys given up by an asset in this range: taken by another asset in the same
    # UPDATE, the unique index could see both at once.
    released: set[str] = field(default_factory=set)
    threshold: float = 0.0
    # By review_key (the asset a key found, the row's keys): the asset such a row belongs to.
    reviewed: dict[tuple, dict] = field(default_factory=dict)

    def add(self, asset: dict) -> None:
        for column in KEYS:
            if value := asset[column]:
                self.index[column].setdefault(value, []).append(asset)

    def match(
        self, keys: dict[str, str | None], row_fqdn: str | None = None
    ) -> tuple[dict | None, str, Proposal | None]:
        """The row's asset and the key that found it, or (None, "created", and the proposal
        of a merge when the key's match is too weak to merge)."""
        for column in KEYS:
            value = keys[column]
            if not value:
                continue
            for asset in self.index[column].get(value, ()):
                if contradicts(column, keys, asset):
                    continue
                matched_on = MATCHED_ON[column]
                kind = kind_of(matched_on, row_fqdn, asset["attributes"])
                confidence = confidences()[kind]
                if confidence >= self.threshold:
                    return asset, matched_on, None
                known_by = row_keys(keys, row_fqdn)
                landing = self.reviewed.get(review_key(asset["id"], known_by))
                if landing is not None:
                    return landing, matched_on, None
                return None, "created", Proposal(asset, matched_on, kind, confidence, known_by)
        return None, "created", None

    def held_by_another(self, column: str, value: str, asset: dict) -> bool:
        if column == "hostname_key" and value in self.released:
            return True
        return any(other is not asset for other in self.index[column].get(value, ()))

    def rekey(self, asset: dict, column: str, value: str) -> None:
        old = asset[column]
        if old:
            holders = self.index[column][old]
            holders[:] = [other for other in holders if other is not asset]
            if column == "hostname_key":
                self.released.add(old)
        asset[column] = value
        self.index[column].setdefault(value, []).append(asset)


def contradicts(column: str, keys: dict[str, str | None], asset: dict) -> bool:
    """Whether the asset found by ``column`` has another value of a key that rules it out."""
    for other in CONTRADICTING[column]:
        mine, theirs = keys[other], asset[other]
        if mine and theirs and mine != theirs:
            if other == "hostname_key" and (is_ip_key(mine) or is_ip_key(theirs)):
                continue
            return True
    return False


_DOTTED_NUMBERS = re.compile(r"[\d.]+")


def is_ip_key(key: str) -> bool:
    """A hostname key that is an IP address (as normalize_hostname_key keys one, malformed
    dotted numbers included): no name."""
    if _DOTTED_NUMBERS.fullmatch(key) is not None:
        return True
    try:
        ipaddress.ip_address(key)
    except ValueError:
        return False
    return True


def merged_type(
    current: str | None, row_type: str | None, data: dict, import_type: str, newer: bool
) -> str | None:
    """The asset's type once a row of its has been merged (see the module's docstring)."""
    if import_type == "dependencies" or row_type is None or row_type == current:
        return current
    if current is None:
        return row_type
    if newer and _decisive(current, data):
        return row_type
    rank, held = TYPE_RANK.get(row_type, 1), TYPE_RANK.get(current, 1)
    return row_type if rank > held or (rank == held and newer) else current


def _decisive(current: str, data: dict) -> bool:
    """Whether the row's own flags overrule the evidence the asset's type rests on."""
    template, virtual = data.get("is_template"), data.get("is_virtual")
    if template is True:
        return True
    if template is False and current == "vm_template":
        return True
    if virtual is True:
        return current != "vm_template"
    return virtual is False and current in ("virtual_machine", "vm_template")


@dataclass
class _Tally:
    """What one chunk found, and what it looks up once (the phase object serves every import of
    the process, and each chunk may run on another worker)."""

    created: Counter = field(default_factory=Counter)
    merged_rows: int = 0
    proposed: int = 0
    # When each import that last described a matched asset was made (None: deleted since).
    import_times: dict[uuid.UUID, datetime | None] = field(default_factory=dict)
    # The account's merge review threshold, and whether it has any reviews to look up.
    threshold: float = 0.0
    reviews: bool = False

    def summary(self) -> dict[str, Any]:
        return {
            "created": dict(self.created),
            "merged_rows": self.merged_rows,
            "proposed": self.proposed,
        }


class AssetInventoryPhase:
    """The phase's work, in chunks run in row order (importer.pipeline.chunks.ChunkedWork): the
    plan is what every chunk reads (the account's threshold; whether it has assets another
    import made), with the import's shared keys beside it (inventory_shared_keys); each chunk
    does one range as the module's docstring says, in its own transaction under the account's
    inventory lock; the finish counts the import's assets. The account's inventory is held by
    the phase from its start to its finish or discard (InventoryLease), so that what a chunk
    saved of an asset before changing it (inventory_displaced) is what a cancel restores."""

    in_order = True

    def plan(self, session: Session, data_import: DataImport) -> tuple[int, dict[str, Any]]:
        params = {"import_id": data_import.id, "account": data_import.client_account_id}
        self._key_old_rows(session, data_import)
        threshold = session.scalar(
            THRESHOLD.where(ClientAccount.id == data_import.client_account_id)
        )
        # The same for a retry as for the attempt it resumes: the assets an unfinished attempt
        # of this import made are not the account's own yet.
        known_assets = session.scalar(FINISHED_BEFORE, params) or session.scalar(
            ANY_OTHER_ASSET, params
        )
        last = session.scalar(LAST_ROW, params) or 0
        return last, {"threshold": threshold, "known_assets": known_assets}

    def prepare(self, session: Session, data_import: DataImport) -> None:
        params = {"import_id": data_import.id}
        session.execute(CLEAR_SHARED, params)
        session.execute(FILL_SHARED, params)

    def chunk(
        self, session: Session, data_import: DataImport, plan: dict[str, Any], after: int, upto: int
    ) -> dict[str, Any]:
        """One range of rows merged into the inventory. A chunk is done again only when its
        attempt did not commit (the fence: its writes and its run's success commit together),
        so it finds its range as the chunks before it left it; its rows' sources are removed
        first all the same."""
        lock_inventory(session, data_import.client_account_id)
        params = {"import_id": data_import.id, "account": data_import.client_account_id}
        bounds = {**params, "after": after, "upto": upto}
        session.execute(
            delete(AssetSource).where(
                AssetSource.import_id == data_import.id,
                AssetSource.row_number > after,
                AssetSource.row_number <= upto,
            )
        )
        session.execute(CHANGES_TABLE)
        today = datetime.now(UTC).date()
        tally = _Tally(threshold=plan["threshold"], reviews=session.scalar(ANY_REVIEW, params))
        create_unmatched = creation(plan["known_assets"])
        verdicts = self._verdicts(session, bounds, today)
        for asset_type, count in session.execute(create_unmatched, {**bounds, **verdicts}):
            tally.created[asset_type] += count
        matched = session.execute(MATCHED_ROWS, bounds).all()
        if matched:
            writer = AssetWriter(
                ImportTransactionManager.driver_connection(session), data_import, today
            )
            self._match_and_merge(session, data_import, writer, tally, matched)
        return tally.summary()

    def finish(self, ctx: WorkContext, plan: dict[str, Any], summaries: list[dict]) -> dict:
        session, data_import = ctx.session, ctx.data_import
        params = {"import_id": data_import.id}
        created: Counter = Counter()
        for summary in summaries:
            created.update(summary["created"])
        counts = {"created": dict(created), "updated": {}, "unchanged": {}}
        # Being touched by this import is not a change of what the asset is.
        for asset_type, updated, unchanged in session.execute(DISPLACED_COUNTS, params):
            for name, count in (("updated", updated), ("unchanged", unchanged)):
                if count:
                    counts[name][asset_type] = count
        self._clear(session, params)
        return {
            "assets": counts,
            "rows_merged_into_an_asset_of_this_import": sum(s["merged_rows"] for s in summaries),
            "merges_for_review": sum(s["proposed"] for s in summaries),
        }

    def discard(self, session: Session, data_import: DataImport) -> None:
        """The account's inventory as it was before the phase: the import's sources removed;
        unless its phase finished once (it is run again), the assets it made deleted (their
        proposed merges with them) and those it changed restored."""
        lock_inventory(session, data_import.client_account_id)
        params = {"import_id": data_import.id, "account": data_import.client_account_id}
        session.execute(CLEAR_SOURCES, params)
        if not session.scalar(FINISHED_BEFORE, params):
            for statement in UNDO:
                session.execute(statement, params)
        self._clear(session, params)

    @staticmethod
    def _clear(session: Session, params: dict[str, Any]) -> None:
        session.execute(CLEAR_SHARED, params)
        session.execute(CLEAR_DISPLACED, params)

    @staticmethod
    def _key_old_rows(session: Session, data_import: DataImport) -> None:
        import_type = data_import.import_type
        if not session.scalar(UNKEYED_FIRST, {"import_id": data_import.id}):
            return
        rows = session.execute(UNKEYED, {"import_id": data_import.id}).all()
        tool = import_tool(data_import)
        keys = [identity(import_type, data, tool) for _, data in rows]
        session.execute(
            SET_KEYS,
            {
                "import_id": data_import.id,
                "row_numbers": [row_number for row_number, _ in rows],
                "keys": [k.hostname_key for k in keys],
                "serials": [k.serial_number for k in keys],
                "ips": [k.primary_ip for k in keys],
                "uuids": [k.uuid for k in keys],
                "source_ids": [k.source_id for k in keys],
                "types": [classify_asset(import_type, data) for _, data in rows],
            },
        )

    @staticmethod
    def _verdicts(session: Session, bounds: dict[str, Any], today: date) -> dict[str, list]:
        """End of support of each (OS family, version) of the range, as UNNEST arrays."""
        table = end_of_support_table()
        pairs = session.execute(OS_PAIRS, bounds).all()
        statuses = [table.assess(family, version, today) for family, version in pairs]
        return {
            "families": [family for family, _ in pairs],
            "versions": [version for _, version in pairs],
            "severities": [s.severity for s in statuses],
            "dates": [s.end_of_support for s in statuses],
            "sources": [s.source for s in statuses],
        }

    def _match_and_merge(
        self,
        session: Session,
        data_import: DataImport,
        writer: AssetWriter,
        tally: _Tally,
        rows: list,
    ) -> None:
        known = self._known(session, data_import, rows, tally)
        new, changed, sources, proposals = {}, {}, [], []
        displaced = []
        for row_number, data, *values, asset_type in rows:
            keys = dict(zip(ROW_KEYS, values, strict=True))
            asset, matched_on, proposal = known.match(keys, fqdn(data))
            fields = self.row_fields(data_import, data, keys, asset_type)
            if asset is None:
                asset = {"id": ordered_id(), **fields, "first_import_id": data_import.id}
                if proposal is not None:
                    # Hostnames are unique within an account: the name stays the found asset's.
                    if proposal.matched_on == MATCHED_ON["hostname_key"]:
                        asset["hostname_key"] = None
                    known.reviewed[review_key(proposal.asset["id"], proposal.row_keys)] = asset
                    proposals.append((row_number, asset["id"], proposal))
                new[asset["id"]] = asset
                known.add(asset)
                tally.created[asset["asset_type"]] += 1
            elif asset["first_import_id"] == data_import.id:
                # Created by an earlier row of this import (of this range, or one before).
                tally.merged_rows += 1
                newer = self._newer(data_import, asset, tally)
                self.merge_row(asset, fields, data, data_import, known, newer)
                if asset["id"] not in new:
                    changed[asset["id"]] = asset
            else:
                if asset["id"] not in changed:
                    displaced.append(asset["id"])
                newer = self._newer(data_import, asset, tally)
                self.merge_row(asset, fields, data, data_import, known, newer)
                changed[asset["id"]] = asset
            sources.append((row_number, asset["id"], matched_on))
        if displaced:
            # As they were before this import: an earlier chunk's snapshot is kept.
            session.execute(SAVE_DISPLACED, {"import_id": data_import.id, "ids": displaced})
        writer.write(new.values(), changed.values(), sources, proposals)
        tally.proposed += len(proposals)

    @staticmethod
    def _newer(data_import: DataImport, asset: dict, tally: _Tally) -> bool:
        """Whether this import is at least as new as the one that last described the asset."""
        last = asset["last_import_id"]
        if last is None or last == data_import.id:
            return True
        made = tally.import_times.get(last)
        return made is None or made <= data_import.created_at

    @staticmethod
    def row_fields(
        data_import: DataImport, data: dict, keys: dict[str, str | None], asset_type: str
    ) -> dict[str, Any]:
        attributes = {k: v for k, v in data.items() if v is not None}
        return {
            "client_account_id": data_import.client_account_id,
            **keys,
            "name": data.get("hostname") or data.get("name") or data.get("fqdn"),
            "asset_type": asset_type,
            "is_virtual": data.get("is_virtual"),
            "attributes": attributes,
            "last_import_id": data_import.id,
            **{column: data.get(column) for column in COLUMNS},
            # An absurd core count stays in the attributes; the column is a 32-bit integer.
            "cpu_cores": cores
            if isinstance(cores := data.get("cpu_cores"), int) and 0 <= cores < 2**31
            else None,
        }

    @staticmethod
    def merge_row(
        asset: dict,
        fields: dict,
        data: dict,
        data_import: DataImport,
        known: Known,
        newer: bool,
    ) -> None:
        """The row's values into its asset, by the precedence of the module's docstring."""
        # The first row of an import newer than the asset's last one may change its identity.
        fresh = newer and asset["last_import_id"] != data_import.id
        renamed = False
        for column in KEYS:
            value, held = fields[column], asset[column]
            if value is None or value == held:
                continue
            blank = held is None
            if column == "hostname_key":
                if is_ip_key(value) and not blank and not is_ip_key(held):
                    continue  # an IP is no name: it does not replace one
                blank = blank or is_ip_key(held)
            if (blank or fresh) and not known.held_by_another(column, value, asset):
                known.rekey(asset, column, value)
                renamed = renamed or column == "hostname_key"
        name, key = fields["name"], fields["hostname_key"]
        if name is not None and (
            asset["name"] is None
            or ((fresh or renamed) and key is not None and key == asset["hostname_key"])
        ):
            asset["name"] = name
        for column in (*COLUMNS, "is_virtual"):
            value = fields[column]
            if value is not None and (newer or asset[column] is None):
                asset[column] = value
        asset["asset_type"] = merged_type(
            asset["asset_type"], fields["asset_type"], data, data_import.import_type, newer
        )
        if newer:
            asset["attributes"] = {**asset["attributes"], **fields["attributes"]}
            asset["last_import_id"] = data_import.id
        else:
            asset["attributes"] = {**fields["attributes"], **asset["attributes"]}

    @staticmethod
    def _known(session: Session, data_import: DataImport, rows: list, tally: _Tally) -> Known:
        values = {
            name: list({row[2 + i] for row in rows if row[2 + i]})
            for i, name in enumerate(ROW_KEY_VALUES)
        }
        known = Known(threshold=tally.threshold)
        if not any(values.values()):
            return known
        # Assets written by earlier chunks are read back from the table, as they now are; one
        # dict an asset, however many of its keys found it, oldest first (as ordered_id makes
        # them): of the assets that share a key value, the oldest is tried first.
        assets = {}
        found = session.execute(
            KNOWN_BY_KEYS, {**values, "account": data_import.client_account_id}
        ).mappings()
        for asset in found:
            assets.setdefault(asset["id"], dict(asset))
        reviews = []
        if tally.reviews and assets:
            reviews = session.execute(REVIEWS_OF, {"ids": list(assets)}).all()
            # The rows' own assets of pending and split pairs, which their keys may not find.
            missing = {proposed for *_, proposed in reviews if proposed not in assets}
            missing.discard(None)
            if missing:
                for asset in session.execute(ASSETS_BY_ID, {"ids": list(missing)}).mappings():
                    assets[asset["id"]] = dict(asset)
        for asset_id in sorted(assets):
            known.add(assets[asset_id])
        for asset_id, keys, status, proposed in reviews:
            landing = assets[asset_id] if status == "approved" else assets.get(proposed)
            if landing is not None:
                known.reviewed[review_key(asset_id, keys)] = landing
        unknown = {asset["last_import_id"] for asset in assets.values()}
        unknown -= {None, *tally.import_times}
        if unknown:
            tally.import_times.update(dict.fromkeys(unknown))
            times = session.execute(IMPORT_TIMES, {"ids": list(unknown)})
            tally.import_times.update({import_id: made for import_id, made in times})
        return known


@dataclass(frozen=True)
class SourceRow:
    """One cleaned row an asset was made of (asset_sources joined to cleaned_records)."""

    data_import: DataImport
    row_number: int
    data: dict[str, Any]
    # The row's keys as the cleansing stored them (ROW_KEYS), and its asset type.
    keys: dict[str, str | None]
    asset_type: str | None


# The asset's fields a row can give a value, beside its attributes.
FIELDS = (*IDENTITY, "asset_type", *COLUMNS, "is_virtual")
# What rebuild's Known lists as the holder of a key value another asset holds.
ANOTHER_ASSET: dict[str, Any] = {}


@dataclass
class Rebuilt:
    """An asset as its source rows make it, and the row that gave each value it holds."""

    asset: dict[str, Any]
    # Field (FIELDS) or attribute name -> the row that last changed it to its value.
    given_by: dict[str, SourceRow]
    attribute_given_by: dict[str, SourceRow]


def rebuild(rows: list[SourceRow], held: Iterable[tuple[str, str]] = ()) -> Rebuilt | None:
    """The asset ``rows`` make, merged as the phase merges them: oldest import first (by
    created_at, as _newer compares them), rows in order within an import. ``held``: the
    (key, value) pairs other assets of the account hold, which the asset never takes over.

    A value's source is the row that set the value the field holds: a later row repeating it
    does not take it over. The other assets' keys are as they are now, not as they were when
    each row was merged: the caller compares the result with the asset it has.
    """
    ordered = sorted(
        rows, key=lambda r: (r.data_import.created_at, str(r.data_import.id), r.row_number)
    )
    if not ordered:
        return None
    first, known = ordered[0], Known()
    for column, value in held:
        known.index[column].setdefault(value, []).append(ANOTHER_ASSET)
    asset = {
        "id": None,
        **AssetInventoryPhase.row_fields(
            first.data_import, first.data, first.keys, first.asset_type
        ),
        "first_import_id": first.data_import.id,
    }
    known.add(asset)
    given = {name: first for name in FIELDS if asset[name] is not None}
    attribute_given = dict.fromkeys(asset["attributes"], first)
    for row in ordered[1:]:
        before = {name: asset[name] for name in FIELDS}
        attributes = asset["attributes"]
        fields = AssetInventoryPhase.row_fields(row.data_import, row.data, row.keys, row.asset_type)
        AssetInventoryPhase.merge_row(asset, fields, row.data, row.data_import, known, newer=True)
        given.update((name, row) for name in FIELDS if not same_value(before[name], asset[name]))
        attribute_given.update(
            (name, row)
            for name, value in asset["attributes"].items()
            if name not in attributes or not same_value(attributes[name], value)
        )
    return Rebuilt(asset, given, attribute_given)


def same_value(one: Any, other: Any) -> bool:
    """16 and 16.0 are one value, True and 1 are not."""
    return one == other and isinstance(one, bool) == isinstance(other, bool)


def lock_inventory(session, client_account_id: uuid.UUID) -> None:
    """One inventory writer per client account at a time (an import's phase, a review): two
    imports naming the same host would otherwise both create it."""
    session.execute(
        select(
            func.pg_advisory_xact_lock(func.hashtextextended(f"inventory/{client_account_id}", 0))
        )
    )


# Whether another import holds the account's inventory: its phase runs (planning, then its
# chunks and finish), or its cancel's discard is still to undo what its chunks wrote. By the
# account's open phases and discards (ix_runs_account_open_phases).
OPEN_PHASES = """
    client_account_id = :account AND name = :phase
    AND kind IN ('phase', 'discard') AND status IN ('pending', 'running')
"""
HOLDING = f"{OPEN_PHASES} AND (kind = 'discard' OR status = 'running')"
HOLDER = text(
    f"""
    SELECT import_id FROM runs
    WHERE {HOLDING} AND import_id IS DISTINCT FROM CAST(:other_than AS uuid) LIMIT 1
    """
)
# The imports whose phase was sent and found the inventory held, once it is free.
WAITING = text(
    f"""
    SELECT DISTINCT import_id FROM runs
    WHERE {OPEN_PHASES} AND kind = 'phase' AND status = 'pending' AND sent_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM runs WHERE {HOLDING})
    """
)


class InventoryLease:
    """One import at a time writes a client account's inventory, from the start of its phase
    to its finish or, once cancelled, its discard: their chunks must not interleave (a row of
    one import could be merged into an asset the other's discard then restores over).

    Another import's phase that begins meanwhile stays pending: queued, not failed. The send
    that follows the commit ending the holder's phase sends it again (or the watchdog does).
    """

    def holder(
        self, session: Session, client_account_id: uuid.UUID, other_than: uuid.UUID | None = None
    ) -> uuid.UUID | None:
        """The import holding the account's inventory (other than ``other_than``), if any."""
        return session.scalar(
            HOLDER,
            {
                "account": client_account_id,
                "phase": FlowPhase.ASSET_INVENTORY.value,
                "other_than": other_than,
            },
        )

    def claim(self, session: Session, run: Run) -> bool:
        """Whether the phase run may start: under the inventory lock, which a phase's start
        takes too, so that two imports' phases never both see the inventory free."""
        lock_inventory(session, run.client_account_id)
        holder = self.holder(session, run.client_account_id, other_than=run.import_id)
        if holder is not None:
            log.info(
                "the inventory of account %s is held by import %s: import %s waits",
                run.client_account_id,
                holder,
                run.import_id,
            )
        return holder is None

    def waiting(self, session: Session, client_account_id: uuid.UUID) -> list[uuid.UUID]:
        return list(
            session.scalars(
                WAITING,
                {"account": client_account_id, "phase": FlowPhase.ASSET_INVENTORY.value},
            )
        )


_last_id = 0
_last_id_lock = threading.Lock()


def ordered_id() -> uuid.UUID:
    """An asset id as ORDERED_ID makes them in SQL, each greater than the process's previous
    one: the assets a range creates sort in the order they were created (see Known)."""
    global _last_id
    milliseconds = time.time_ns() // 1_000_000
    value = int.from_bytes(milliseconds.to_bytes(6, "big") + uuid.uuid4().bytes[6:], "big")
    with _last_id_lock:  # a worker's threads may run two accounts' inventories at once
        _last_id = value if value > _last_id else _last_id + 1
        return uuid.UUID(int=_last_id)


class AssetWriter:
    """Writes the new and changed assets of rows matched in Python, and their sources, by COPY."""

    def __init__(self, conn, data_import: DataImport, today: date) -> None:
        self._conn = conn
        self._import = data_import
        self._today = today
        self._eos = end_of_support_table()

    def write(
        self,
        new,
        changed,
        sources: list[tuple[int, uuid.UUID, str]],
        proposals: list[tuple[int, uuid.UUID, Proposal]] = (),
    ) -> None:
        data_import = self._import
        with self._conn.cursor() as cursor:
            # The changes first: a hostname key a changed asset gave up may be a new asset's.
            if changed:
                cursor.execute("TRUNCATE asset_changes")
                with cursor.copy(COPY_CHANGES) as copy:
                    for asset in changed:
                        copy.write_row((asset["id"], *self._written(asset)))
                cursor.execute(APPLY_CHANGES, {"ids": [asset["id"] for asset in changed]})
            if new:
                with cursor.copy(COPY_ASSETS) as copy:
                    for asset in new:
                        copy.write_row(
                            (asset["id"], data_import.client_account_id, data_import.id)
                            + self._written(asset)
                        )
            with cursor.copy(COPY_SOURCES) as copy:
                for row_number, asset_id, matched_on in sources:
                    copy.write_row(
                        (
                            data_import.id,
                            row_number,
                            asset_id,
                            data_import.client_account_id,
                            matched_on,
                        )
                    )
            if proposals:
                with cursor.copy(COPY_MERGES) as copy:
                    for row_number, own_asset_id, proposal in proposals:
                        copy.write_row(
                            (
                                ordered_id(),
                                data_import.client_account_id,
                                proposal.asset["id"],
                                own_asset_id,
                                data_import.id,
                                row_number,
                                proposal.matched_on,
                                proposal.kind,
                                proposal.confidence,
                                json_codec.dumps(proposal.row_keys).decode(),
                                "pending",
                            )
                        )

    def _written(self, asset: dict) -> tuple:
        status = self._eos.assess(asset["os_family"], asset["os_version"], self._today)
        return (
            *(asset[name] for name in COMPARED[:-1]),
            json_codec.dumps(asset["attributes"]).decode(),
            status.severity,
            status.end_of_support,
            status.source,
            asset["last_import_id"],
        )
