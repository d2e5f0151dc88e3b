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
Python, in row order. Both kinds of row go range by range: a cancel is honoured between ranges.
Rows of the first kind touch nothing the others can find, so the split changes no outcome.
"""

from __future__ import annotations

import ipaddress
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

from importer import json_codec
from importer.discovery.classify import classify_asset
from importer.discovery.identity import identity
from importer.discovery.match_confidence import confidences, fqdn, kind_of
from importer.models import Asset, AssetSource, ClientAccount, DataImport
from importer.models.asset import ACCOUNT_SCAN
from importer.services.phases.data_cleansing import import_tool
from importer.services.phases.tech_debt import end_of_support_table
from importer.services.step_runner import WorkContext
from importer.services.table_statistics import TableStatistics
from importer.services.transactions import ImportTransactionManager

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
# Creating more assets than this, and more than a tenth of those the statistics know of, makes
# the statistics stale for the rest of the phase.
MIN_NEW_ASSETS = 20_000
STALE_FRACTION = 0.1
KNOWN_COLUMNS = [c for c in Asset.__table__.columns if c.key not in ("created_at", "updated_at")]

# Key values that more than one row of the import carries: their rows go through Python.
SHARED_TABLE = text(
    """
    CREATE TEMP TABLE IF NOT EXISTS inventory_shared (kind "char", value text,
        PRIMARY KEY (kind, value)) ON COMMIT DROP
    """
)
# Each key's one-letter kind in that table.
SHARED_KIND = dict(zip(ROW_KEYS, "ksiur", strict=True))
FILL_SHARED = text(
    "INSERT INTO inventory_shared (kind, value) "
    + " UNION ALL ".join(
        f"""
        SELECT '{kind}', {column} FROM cleaned_records
        WHERE import_id = :import_id AND {column} IS NOT NULL
        GROUP BY {column} HAVING count(*) > 1
        """
        for column, kind in SHARED_KIND.items()
    )
)
OS_PAIRS = text(
    """
    SELECT DISTINCT data ->> 'os_family', data ->> 'os_version' FROM cleaned_records
    WHERE import_id = :import_id
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
# The shared keys are a table of this transaction's, analysed once filled: PostgreSQL then hashes
# them for each range only when they are few. The assets' look-ups are scalar subqueries, one
# index probe a row, which PostgreSQL cannot turn into hashing every asset of the account for each
# range (as EXISTS, with statistics taken before a large import, it did: 100k assets hashed twice
# a range, 1M rows into such an account took 169 s instead of 22).
SHARED_KEY = " OR ".join(
    f"EXISTS (SELECT 1 FROM inventory_shared s WHERE s.kind = '{kind}' AND s.value = c.{column})"
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
ANY_ASSET = text(
    f"SELECT EXISTS (SELECT 1 FROM assets WHERE client_account_id = :account AND {ACCOUNT_SCAN})"
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
    """What one run of the phase found (the phase object serves every import of the process)."""

    counts: dict[str, Counter] = field(
        default_factory=lambda: {"created": Counter(), "updated": Counter(), "unchanged": Counter()}
    )
    merged_rows: int = 0
    # Assets that existed before this import: a fingerprint of what they were, and of what
    # this import leaves them (fingerprints, not copies: a million assets must fit).
    before: dict[uuid.UUID, int] = field(default_factory=dict)
    after: dict[uuid.UUID, tuple[int, str]] = field(default_factory=dict)
    # When each import that last described a matched asset was made (None: deleted since).
    import_times: dict[uuid.UUID, datetime | None] = field(default_factory=dict)
    # The account's merge review threshold, and whether it has any reviews to look up.
    threshold: float = 0.0
    reviews: bool = False
    proposed: int = 0


class AssetInventoryPhase:
    def __init__(self, chunk_size: int, statistics: TableStatistics) -> None:
        self._chunk_size = chunk_size
        self._statistics = statistics

    def run(self, ctx: WorkContext) -> dict[str, Any]:
        session, data_import = ctx.session, ctx.data_import
        self._statistics.refresh("cleaned_records")
        lock_inventory(session, data_import.client_account_id)
        session.execute(delete(AssetSource).where(AssetSource.import_id == data_import.id))
        params = {"import_id": data_import.id, "account": data_import.client_account_id}
        self._key_old_rows(ctx)
        for statement in (CHANGES_TABLE, SHARED_TABLE, text("TRUNCATE inventory_shared")):
            session.execute(statement)
        session.execute(FILL_SHARED, params)
        session.execute(text("ANALYZE inventory_shared"))
        today = datetime.now(UTC).date()
        verdicts = self._verdicts(ctx, today)
        writer = AssetWriter(
            ImportTransactionManager.driver_connection(session), data_import, today
        )
        create_unmatched = creation(session.scalar(ANY_ASSET, params))
        tally = _Tally(
            threshold=session.scalar(
                THRESHOLD.where(ClientAccount.id == data_import.client_account_id)
            ),
            reviews=session.scalar(ANY_REVIEW, params),
        )
        last = session.scalar(LAST_ROW, params) or 0
        # The assets this transaction creates are not in the statistics (their account may be
        # new to them): past a tenth of what they know, they are taken in this transaction.
        stale_after = max(
            MIN_NEW_ASSETS, STALE_FRACTION * self._statistics.known_rows(session, "assets")
        )
        analysed = False
        for after in range(0, last, self._chunk_size):
            bounds = {**params, "after": after, "upto": after + self._chunk_size}
            for asset_type, count in session.execute(create_unmatched, {**bounds, **verdicts}):
                tally.counts["created"][asset_type] += count
            matched = session.execute(MATCHED_ROWS, bounds).all()
            if matched:
                self._match_and_merge(ctx, writer, tally, matched)
            if not analysed and sum(tally.counts["created"].values()) >= stale_after:
                analysed = self._statistics.refresh_within(session, "assets")
            ctx.checkpoint(min(after + self._chunk_size, last), last)
        for asset_id, (state, asset_type) in tally.after.items():
            # Being touched by this import is not a change of what the asset is.
            same = state == tally.before[asset_id]
            tally.counts["unchanged" if same else "updated"][asset_type] += 1
        return {
            "assets": {name: dict(counter) for name, counter in tally.counts.items()},
            "rows_merged_into_an_asset_of_this_import": tally.merged_rows,
            "merges_for_review": tally.proposed,
        }

    @staticmethod
    def _key_old_rows(ctx: WorkContext) -> None:
        import_type = ctx.data_import.import_type
        if not ctx.session.scalar(UNKEYED_FIRST, {"import_id": ctx.data_import.id}):
            return
        rows = ctx.session.execute(UNKEYED, {"import_id": ctx.data_import.id}).all()
        tool = import_tool(ctx.data_import)
        keys = [identity(import_type, data, tool) for _, data in rows]
        ctx.session.execute(
            SET_KEYS,
            {
                "import_id": ctx.data_import.id,
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
    def _verdicts(ctx: WorkContext, today: date) -> dict[str, list]:
        """End of support of each (OS family, version) of the import, as UNNEST arrays."""
        table = end_of_support_table()
        pairs = ctx.session.execute(OS_PAIRS, {"import_id": ctx.data_import.id}).all()
        statuses = [table.assess(family, version, today) for family, version in pairs]
        return {
            "families": [family for family, _ in pairs],
            "versions": [version for _, version in pairs],
            "severities": [s.severity for s in statuses],
            "dates": [s.end_of_support for s in statuses],
            "sources": [s.source for s in statuses],
        }

    def _match_and_merge(
        self, ctx: WorkContext, writer: AssetWriter, tally: _Tally, rows: list
    ) -> None:
        data_import = ctx.data_import
        known = self._known(ctx, rows, tally)
        new, changed, sources, proposals = {}, {}, [], []
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
                tally.counts["created"][asset["asset_type"]] += 1
            elif asset["first_import_id"] == data_import.id:
                # Created by an earlier row of this import (of this range, or one before).
                tally.merged_rows += 1
                newer = self._newer(data_import, asset, tally)
                self.merge_row(asset, fields, data, data_import, known, newer)
                if asset["id"] not in new:
                    changed[asset["id"]] = asset
            else:
                tally.before.setdefault(asset["id"], fingerprint(asset))
                newer = self._newer(data_import, asset, tally)
                self.merge_row(asset, fields, data, data_import, known, newer)
                changed[asset["id"]] = asset
                tally.after[asset["id"]] = (fingerprint(asset), asset["asset_type"])
            sources.append((row_number, asset["id"], matched_on))
        writer.write(new.values(), changed.values(), sources, proposals)
        tally.proposed += len(proposals)
        tally.reviews = tally.reviews or bool(proposals)

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
    def _known(ctx: WorkContext, rows: list, tally: _Tally) -> Known:
        values = {
            name: list({row[2 + i] for row in rows if row[2 + i]})
            for i, name in enumerate(ROW_KEY_VALUES)
        }
        known = Known(threshold=tally.threshold)
        if not any(values.values()):
            return known
        # Assets written by earlier ranges are read back from the table, as they now are; one
        # dict an asset, however many of its keys found it, oldest first (as ordered_id makes
        # them): of the assets that share a key value, the oldest is tried first.
        assets = {}
        found = ctx.session.execute(
            KNOWN_BY_KEYS, {**values, "account": ctx.data_import.client_account_id}
        ).mappings()
        for asset in found:
            assets.setdefault(asset["id"], dict(asset))
        reviews = []
        if tally.reviews and assets:
            reviews = ctx.session.execute(REVIEWS_OF, {"ids": list(assets)}).all()
            # The rows' own assets of pending and split pairs, which their keys may not find.
            missing = {proposed for *_, proposed in reviews if proposed not in assets}
            missing.discard(None)
            if missing:
                for asset in ctx.session.execute(ASSETS_BY_ID, {"ids": list(missing)}).mappings():
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
            times = ctx.session.execute(IMPORT_TIMES, {"ids": list(unknown)})
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
    """16 and 16.0 are one value (as fingerprint compares them), True and 1 are not."""
    return one == other and isinstance(one, bool) == isinstance(other, bool)


def lock_inventory(session, client_account_id: uuid.UUID) -> None:
    """One inventory writer per client account at a time (an import's phase, a review): two
    imports naming the same host would otherwise both create it."""
    session.execute(
        select(
            func.pg_advisory_xact_lock(func.hashtextextended(f"inventory/{client_account_id}", 0))
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


def fingerprint(asset: dict) -> int:
    """Equal for assets equal in every compared field (as ==, so 16 and 16.0 are alike)."""
    return hash(tuple(_frozen(asset.get(name)) for name in COMPARED))


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return frozenset((k, _frozen(v)) for k, v in value.items())
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


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
