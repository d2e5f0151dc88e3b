import io
import random
import uuid
from typing import Any

import pytest

from importer.discovery.dependencies import find_cycles, parse_targets
from importer.discovery.normalize import normalize_value
from tests.helpers import csv_bytes, wait_for_final


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
    response = client.post(
        "/api/v1/imports",
        data={
            "file": (io.BytesIO(body), f"{import_type}.csv"),
            "engagement": engagement,
            "import_type": import_type,
        },
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 202, response.get_json()
    final = wait_for_final(client, response.get_json()["id"], headers)
    assert final["status"] == "completed", final
    return final


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
