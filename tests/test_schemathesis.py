"""Schemathesis against the generated document: no 5xx, and every answer as documented.

Each operation gets its own bounded hypothesis run. Every other case that takes an import, flow,
asset or merge id uses the id of a real, completed import (uploaded first, through a real worker)
and of a merge it left for review, so that the generated query strings and bodies reach past the
404.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.helpers import import_completed

MAX_EXAMPLES = 25
CSV = (
    b"Host Name,IP Addr,Operating System,Env,Depends On\n"
    b"web-01,10.0.0.1,Windows Server 2008 R2,prod,db-01\n"
    b"db-01,10.0.0.2,Red Hat Enterprise Linux 9.2,prod,\n"
)
# web-01 again, known by its address only: a merge that waits for review.
BY_ADDRESS = b"Host Name,IP Addr\n10.0.0.1,10.0.0.1\n"


@pytest.fixture(scope="module")
def api_key(resources) -> dict[str, str]:
    issued = resources.services.api_keys.create(f"schemathesis-{uuid.uuid4().hex[:8]}")
    return {"Authorization": f"Bearer {issued.key}"}


@pytest.fixture(scope="module")
def real_ids(app, api_key, celery_worker) -> dict[str, str]:
    client = app.test_client()
    final = import_completed(client, api_key, CSV, "seed.csv", engagement="seed")
    assets = client.get("/api/v1/assets", headers=api_key).get_json()["items"]
    import_completed(client, api_key, BY_ADDRESS, "by-address.csv", engagement="seed")
    [merge] = client.get("/api/v1/merges", headers=api_key).get_json()["items"]
    return {
        "import_id": final["id"],
        "flow_id": final["flow"]["id"],
        "asset_id": assets[0]["id"],
        "merge_id": merge["id"],
    }


@pytest.fixture(scope="module")
def api_schema(app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE], max_examples=MAX_EXAMPLES)
    return schema


def exercise(operation, api_key: dict, real_ids: dict) -> Counter:
    """One bounded hypothesis run of an operation; the statuses it answered."""
    seen: Counter = Counter()
    calls = iter(range(10**6))

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        if next(calls) % 2 and case.path_parameters:
            case.path_parameters = {
                name: real_ids.get(name, value) for name, value in case.path_parameters.items()
            }
        response = case.call_and_validate(
            headers=api_key, checks=[not_a_server_error, response_schema_conformance]
        )
        seen[response.status_code] += 1

    run()
    return seen


def test_api_answers_as_documented(api_schema, api_key, real_ids):
    failures = []
    statuses: dict[str, Counter] = {}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # Undoing the real import takes its assets away: the operations that read them go first.
    operations.sort(key=lambda operation: operation.label.endswith(("/undo", "/commit")))
    for operation in operations:
        try:
            statuses[operation.label] = exercise(operation, api_key, real_ids)
        except (Exception, BaseExceptionGroup) as exc:  # reported below, with the operation
            statuses[operation.label] = Counter()
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # Every operation but the document's own (schemathesis leaves out the schema's URL).
    assert len(statuses) == 24, sorted(statuses)
    print({label: dict(counts) for label, counts in statuses.items()})
    # The real ids were reached: not everything is a 404.
    assert set(statuses["GET /api/v1/imports/{import_id}/records"]) - {404}
    assert statuses["GET /api/v1/imports/{import_id}/mappings"][200] > 0
    assert statuses["GET /api/v1/assets/{asset_id}"][200] > 0
    assert statuses["POST /api/v1/imports"][202] > 0
    # The real merge was decided once, then found decided.
    assert statuses["POST /api/v1/merges/{merge_id}/approve"][200] == 1
    assert statuses["POST /api/v1/merges/{merge_id}/split"][409] > 0
    assert statuses["PUT /api/v1/account/settings"][200] > 0
