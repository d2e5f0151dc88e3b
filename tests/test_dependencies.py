import io
import random
import uuid
from typing import Any

import pytest
from sqlalchemy import text

from importer.discovery.dependencies import find_cycles, parse_targets
from importer.discovery.normalize import normalize_value
from tests.helpers import csv_bytes, import_completed, wait_for_final


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("db-01;cache-01", ["db-01", "cache-01"]),
        ("db-01, cache-01", ["db-01", "cache-01"]),
        # Spaces and tabs are part of a name, never a separator.
        ("db-01 cache-01\tqueue-01", ["db-01 cache-01\tqueue-01"]),
        ("db-01\ncache-01\r\nqueue-01", ["db-01", "cache-01", "queue-01"]),
        (" ;db-01;; ,cache-01; ", ["db-01", "cache-01"]),
        ("db-01;cache-01;db-01", ["db-01", "cache-01"]),
        (["db-01", " cache-01 ", "db-01"], ["db-01", "cache-01"]),
        (["db-01; cache-01", "queue-01"], ["db-01", "cache-01", "queue-01"]),
        (["db-01", 1001, None, True, 2.5, {"name": "x"}, ["y"]], ["db-01", "1001"]),
        (1001, ["1001"]),
        ("db-01", ["db-01"]),
        (None, []),
        ("", []),
        ("  ", []),
        ([], []),
        (True, []),
        ({"name": "db-01"}, []),
    ],
)
def test_parse_targets(raw: Any, expected: list[str]) -> None:
    assert parse_targets(raw) == expected


# One test per separator real exports use. Each form goes through the cleansing's list cleaner
# (what the dependency phase reads) and through parse_targets (what it splits the values with).
def targets_of(cell: str) -> list[str]:
    cleaned = normalize_value("list", "dependencies", cell).value
    assert parse_targets(cleaned) == parse_targets(cell)
    return parse_targets(cell)


def test_semicolons_separate_targets() -> None:
    assert targets_of("Billing Portal (RightFax); CRM Suite;db-01") == [
        "Billing Portal (RightFax)",
        "CRM Suite",
        "db-01",
    ]


def test_commas_separate_targets() -> None:
    assert targets_of("Billing Portal (RightFax), CRM Suite,db-01") == [
        "Billing Portal (RightFax)",
        "CRM Suite",
        "db-01",
    ]


def test_new_lines_separate_targets() -> None:
    # A spreadsheet cell with one target a line (Alt+Enter in Excel), in any line ending.
    assert targets_of("Billing Portal (RightFax)\nCRM Suite\r\ndb-01\rcache-01") == [
        "Billing Portal (RightFax)",
        "CRM Suite",
        "db-01",
        "cache-01",
    ]


def test_spaces_never_separate_targets() -> None:
    assert targets_of("Billing Portal (RightFax)") == ["Billing Portal (RightFax)"]
    assert targets_of("  SAP ERP  Production ") == ["SAP ERP  Production"]


def test_servicenow_relationship_names_its_cis_without_the_relationship_type() -> None:
    # Parent::Relation::Child, the relation being ServiceNow's "parent::child descriptor" pair.
    assert targets_of("CRM Suite::Depends on::Used by::Billing Portal (RightFax)") == [
        "CRM Suite",
        "Billing Portal (RightFax)",
    ]
    assert targets_of("web-01::Runs on::Runs::esx-01; app-01 :: Hosted on::Hosts :: esx-02") == [
        "web-01",
        "esx-01",
        "app-01",
        "esx-02",
    ]


def test_servicenow_relationship_type_alone_is_no_target() -> None:
    assert targets_of("Depends on::Used by") == []
    assert targets_of("db-01::DEPENDS ON::used by") == ["db-01"]


def test_relationship_words_are_names_outside_a_relationship() -> None:
    # Without "::" the words are an asset's name like any other.
    assert targets_of("Hosts; Contains") == ["Hosts", "Contains"]


def test_ipv6_addresses_keep_their_double_colon() -> None:
    assert targets_of("fe80::1; 2001:db8::5, ::1") == ["fe80::1", "2001:db8::5", "::1"]


def test_self_loop() -> None:
    assert find_cycles([("a", "a")]) == [["a"]]


def test_two_cycle() -> None:
    assert find_cycles([("a", "b"), ("b", "a")]) == [["a", "b"]]


def test_three_cycle() -> None:
    assert find_cycles([("a", "b"), ("b", "c"), ("c", "a")]) == [["a", "b", "c"]]


def test_dag_has_no_cycle() -> None:
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("b", "d"), ("e", "a")]
    assert find_cycles(edges) == []


def test_no_edges() -> None:
    assert find_cycles([]) == []


def test_each_cycle_once_in_first_appearance_order() -> None:
    edges = [
        ("x", "y"),
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("c", "b"),  # a second cycle inside the same component
        ("b", "b"),  # and a self-loop inside it: still one group
        ("y", "x"),
        ("a", "a2"),
        ("q", "q"),
        ("x", "y"),  # a repeated edge
    ]
    assert find_cycles(edges) == [["x", "y"], ["a", "b", "c"], ["q"]]


def test_cycle_reached_from_outside_is_just_the_cycle() -> None:
    edges = [("root", "a"), ("a", "b"), ("b", "a"), ("b", "leaf")]
    assert find_cycles(edges) == [["a", "b"]]


def test_any_hashable_nodes() -> None:
    assert find_cycles([(1, (2, "x")), ((2, "x"), 1)]) == [[1, (2, "x")]]


def test_accepts_a_generator() -> None:
    assert find_cycles((n, (n + 1) % 3) for n in range(3)) == [[0, 1, 2]]


def test_long_chain_needs_no_recursion() -> None:
    nodes = 200_000
    chain = [(n, n + 1) for n in range(nodes)]
    assert find_cycles(chain) == []
    cycle = find_cycles([*chain, (nodes, 0)])
    assert len(cycle) == 1
    assert cycle[0] == list(range(nodes + 1))


def _cycles_by_reachability(edges: list[tuple[int, int]]) -> list[list[int]]:
    """The definition, spelled out: nodes that reach each other, or a node that reaches itself."""
    order = list(dict.fromkeys(node for edge in edges for node in edge))
    reach = {node: {t for s, t in edges if s == node} for node in order}
    changed = True
    while changed:
        changed = False
        for node in order:
            more = set().union(*(reach[n] for n in reach[node])) - reach[node]
            if more:
                reach[node] |= more
                changed = True
    groups: dict[frozenset, list[int]] = {}
    for node in order:
        if node in reach[node]:
            group = frozenset(n for n in order if n in reach[node] and node in reach[n])
            groups.setdefault(group, []).append(node)
    return list(groups.values())


@pytest.mark.parametrize("seed", range(40))
def test_matches_the_definition_on_random_graphs(seed: int) -> None:
    rng = random.Random(seed)
    nodes = rng.randrange(1, 12)
    edges = [(rng.randrange(nodes), rng.randrange(nodes)) for _ in range(rng.randrange(25))]
    assert find_cycles(edges) == _cycles_by_reachability(edges)


# ------------------------------------------------------------------ through the API and a worker
def imported(client, headers: dict, body: bytes, import_type: str, engagement: str) -> dict:
    """An import of ``import_type``, run to completion by the worker."""
    return import_completed(
        client, headers, body, f"{import_type}.csv", engagement=engagement, import_type=import_type
    )


def dependencies_summary(client, headers: dict, final: dict) -> dict:
    flow = client.get(f"/api/v1/flows/{final['flow']['id']}", headers=headers).get_json()
    return flow["summary"]["dependencies"]


def all_assets(client, headers: dict) -> list[dict]:
    return client.get("/api/v1/assets?limit=1000", headers=headers).get_json()["items"]


def asset_detail(client, headers: dict, asset_id: str) -> dict:
    return client.get(f"/api/v1/assets/{asset_id}", headers=headers).get_json()


@pytest.mark.usefixtures("celery_worker")
def test_applications_depending_on_applications_resolve_to_them(client, auth):
    engagement = uuid.uuid4().hex
    imported(
        client,
        auth,
        csv_bytes(["Host Name", "IP Addr"], [["billing", "10.9.0.1"], ["crm-01", "10.9.0.2"]]),
        "servers",
        engagement,
    )
    final = imported(
        client,
        auth,
        csv_bytes(
            ["Application Name", "Depends On"],
            [
                # "billing" is also a server: an application's dependency is the application.
                ["CRM Suite", "Billing; Billing Portal (RightFax)\nSAP ERP"],
                ["Billing", "crm-01"],
                ["Billing Portal (RightFax)", "CRM Suite::Depends on::Used by::Billing"],
                ["SAP ERP", ""],
            ],
        ),
        "applications",
        engagement,
    )
    deps = dependencies_summary(client, auth, final)
    # crm-01 is no application: the server of that name.
    assert (deps["edges"], deps["resolved"], deps["unresolved"]) == (6, 6, 0)
    by_name = {(a["asset_type"], a["name"]): a for a in all_assets(client, auth)}
    crm = asset_detail(client, auth, by_name["application", "CRM Suite"]["id"])
    assert {(d["target"], d["name"], d["asset_id"]) for d in crm["depends_on"]} == {
        ("Billing", "Billing", by_name["application", "Billing"]["id"]),
        (
            "Billing Portal (RightFax)",
            "Billing Portal (RightFax)",
            by_name["application", "Billing Portal (RightFax)"]["id"],
        ),
        ("SAP ERP", "SAP ERP", by_name["application", "SAP ERP"]["id"]),
    }
    billing = asset_detail(client, auth, by_name["application", "Billing"]["id"])
    assert [(d["target"], d["asset_id"]) for d in billing["depends_on"]] == [
        ("crm-01", by_name["server", "crm-01"]["id"])
    ]
    # CRM Suite → Billing Portal → CRM Suite.
    assert deps["cycles"] == 1


AZURE_MIGRATE_HEADER = [
    "Time slot",
    "Source server name",
    "Source IP",
    "Source application",
    "Source process",
    "Destination server name",
    "Destination IP",
    "Destination application",
    "Destination process",
    "Destination port",
]
SLOT_1, SLOT_2 = "03-12-2026 10:00 - 11:00", "03-12-2026 11:00 - 12:00"
CONNECTIONS = [
    [
        SLOT_1,
        "web-01",
        "10.1.0.1",
        "IIS",
        "w3wp.exe",
        "db-01",
        "10.1.0.2",
        "SQL",
        "sqlservr.exe",
        "1433",
    ],
    # The same connection in the next time slot, and from another process: still one edge.
    [
        SLOT_2,
        "web-01",
        "10.1.0.1",
        "IIS",
        "w3wp.exe",
        "db-01",
        "10.1.0.2",
        "SQL",
        "sqlservr.exe",
        "1433",
    ],
    [
        SLOT_2,
        "web-01",
        "10.1.0.1",
        "",
        "sqlcmd.exe",
        "db-01",
        "10.1.0.2",
        "SQL",
        "sqlservr.exe",
        "1433",
    ],
    [SLOT_1, "web-01", "10.1.0.1", "IIS", "w3wp.exe", "app-01", "10.1.0.3", "", "java.exe", "8080"],
    # A source known by its address only.
    [SLOT_1, "", "10.1.0.3", "", "java.exe", "db-01", "10.1.0.2", "SQL", "sqlservr.exe", "1433"],
    # A destination outside the inventory: an unresolved edge, no asset.
    [SLOT_1, "web-01", "10.1.0.1", "", "w3wp.exe", "", "52.1.2.3", "", "", "443"],
    # A source outside the inventory: no edge, no asset.
    [SLOT_1, "laptop-77", "10.9.9.9", "", "chrome.exe", "web-01", "10.1.0.1", "IIS", "", "443"],
]
SERVERS_HEADER = ["Host Name", "IP Addr", "Operating System", "Env", "RAM (GB)", "Depends On"]
SERVERS = [
    ["web-01", "10.1.0.1", "Windows Server 2019", "prod", "16", "db-01"],
    ["db-01", "10.1.0.2", "Red Hat Enterprise Linux 9.2", "prod", "64", ""],
    ["app-01", "10.1.0.3", "Ubuntu 22.04", "test", "8", ""],
]


def assets_as_stored(resources, account_id) -> list[dict]:
    with resources.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT * FROM assets WHERE client_account_id = :account ORDER BY id"),
            {"account": account_id},
        )
        return [dict(row) for row in rows.mappings()]


def edges_as_stored(resources, account_id) -> list[tuple]:
    with resources.engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT s.name, d.target_ref, t.name, d.observed, d.port, d.protocol, "
                "d.source_processes, d.target_processes FROM asset_dependencies d "
                "JOIN assets s ON s.id = d.source_asset_id "
                "LEFT JOIN assets t ON t.id = d.target_asset_id "
                "WHERE d.client_account_id = :account ORDER BY 1, 2, 5 NULLS FIRST"
            ),
            {"account": account_id},
        ).all()


OBSERVED_EDGES = [
    ("app-01", "db-01", "db-01", True, 1433, None, ["java.exe"], ["sqlservr.exe"]),
    ("web-01", "52.1.2.3", None, True, 443, None, ["w3wp.exe"], None),
    ("web-01", "app-01", "app-01", True, 8080, None, ["w3wp.exe"], ["java.exe"]),
    ("web-01", "db-01", "db-01", False, None, None, None, None),
    ("web-01", "db-01", "db-01", True, 1433, None, ["w3wp.exe", "sqlcmd.exe"], ["sqlservr.exe"]),
]


@pytest.mark.usefixtures("celery_worker")
def test_a_dependency_export_adds_edges_with_ports_and_changes_no_asset(resources, client, account):
    account_id, auth = account
    engagement = uuid.uuid4().hex
    imported(client, auth, csv_bytes(SERVERS_HEADER, SERVERS), "servers", engagement)
    before = assets_as_stored(resources, account_id)

    final = imported(
        client, auth, csv_bytes(AZURE_MIGRATE_HEADER, CONNECTIONS), "dependencies", engagement
    )
    flow = client.get(f"/api/v1/flows/{final['flow']['id']}", headers=auth).get_json()
    assert [p["name"] for p in flow["phases"]] == [
        "field_mapping",
        "data_cleansing",
        "dependency_analysis",
    ]
    assert (flow["status"], flow["progress"]) == ("succeeded", 100)
    assert flow["summary"]["assets"] is None
    deps = flow["summary"]["dependencies"]
    assert deps == {
        "rows": 7,
        "edges": 4,
        "resolved": 3,
        "unresolved": 1,
        "unresolved_targets": ["52.1.2.3"],
        "connections_without_source": 1,
        "unresolved_sources": ["laptop-77"],
        "replaced": 0,
        "cycles": 0,
        "cycle_examples": [],
    }
    # No asset created, none changed: same attributes, types, import ids and updated_at.
    assert assets_as_stored(resources, account_id) == before
    assert edges_as_stored(resources, account_id) == OBSERVED_EDGES

    by_name = {a["name"]: a for a in all_assets(client, auth)}
    web = asset_detail(client, auth, by_name["web-01"]["id"])
    assert [
        (d["target"], d["resolved"], d["observed"], d["port"], d["protocol"])
        for d in web["depends_on"]
    ] == [
        ("52.1.2.3", False, True, 443, None),
        ("app-01", True, True, 8080, None),
        ("db-01", True, False, None, None),
        ("db-01", True, True, 1433, None),
    ]
    assert web["depends_on"][3]["source_processes"] == ["w3wp.exe", "sqlcmd.exe"]
    assert web["depends_on"][3]["target_processes"] == ["sqlservr.exe"]
    db = asset_detail(client, auth, by_name["db-01"]["id"])
    assert [(d["name"], d["port"], d["source_processes"]) for d in db["depended_on_by"]] == [
        ("app-01", 1433, ["java.exe"]),
        ("web-01", None, None),
        ("web-01", 1433, ["w3wp.exe", "sqlcmd.exe"]),
    ]

    # The same export again: its observations replace the earlier ones, nothing doubles.
    again = imported(
        client, auth, csv_bytes(AZURE_MIGRATE_HEADER, CONNECTIONS), "dependencies", engagement
    )
    assert dependencies_summary(client, auth, again)["replaced"] == 4
    assert edges_as_stored(resources, account_id) == OBSERVED_EDGES
    assert assets_as_stored(resources, account_id) == before
    # The inventory again: it replaces its declared dependencies, not the observed ones.
    imported(client, auth, csv_bytes(SERVERS_HEADER, SERVERS), "servers", engagement)
    assert edges_as_stored(resources, account_id) == OBSERVED_EDGES


@pytest.mark.usefixtures("celery_worker")
def test_a_dependency_export_without_a_destination_waits_for_its_mapping(client, auth):
    header = ["Source server name", "Destination port"]
    response = client.post(
        "/api/v1/imports",
        data={
            "file": (io.BytesIO(csv_bytes(header, [["web-01", "443"]])), "flows.csv"),
            "engagement": uuid.uuid4().hex,
            "import_type": "dependencies",
        },
        headers=auth,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    paused = wait_for_final(
        client, response.get_json()["id"], auth, statuses={"waiting_for_approval", "failed"}
    )
    assert paused["status"] == "waiting_for_approval", paused
    flow = client.get(f"/api/v1/flows/{paused['flow']['id']}", headers=auth).get_json()
    assert flow["summary"]["mapping"]["missing_required"] == [
        "destination_hostname or destination_ip"
    ]
