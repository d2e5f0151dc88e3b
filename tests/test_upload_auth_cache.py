"""Valid API keys are believed for a few seconds per process; revocation still takes effect."""

from __future__ import annotations

from web.auth import KEY_CACHE_SECONDS, ApiKeyCache


def test_a_revoked_key_is_refused_once_the_cache_time_has_passed(client, resources, monkeypatch):
    now = [1000.0]
    cache = ApiKeyCache(clock=lambda: now[0])
    monkeypatch.setitem(client.application.extensions, "api_key_cache", cache)
    issued = resources.services.api_keys.create("cached-key")
    headers = {"Authorization": f"Bearer {issued.key}"}
    assert client.get("/api/v1/imports", headers=headers).status_code == 200

    assert resources.services.api_keys.revoke(issued.key)
    # Within the cache time the key is still believed, without a lookup...
    now[0] += KEY_CACHE_SECONDS - 0.5
    assert client.get("/api/v1/imports", headers=headers).status_code == 200
    # ...and refused after it.
    now[0] += 0.5
    response = client.get("/api/v1/imports", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid-api-key"


def test_unknown_keys_are_never_cached_and_new_keys_work_at_once(client, resources):
    headers = {"Authorization": "Bearer imp_not-a-key"}
    assert client.get("/api/v1/imports", headers=headers).status_code == 401
    assert client.get("/api/v1/imports", headers=headers).status_code == 401
    issued = resources.services.api_keys.create("fresh-key")
    fresh = {"Authorization": f"Bearer {issued.key}"}
    assert client.get("/api/v1/imports", headers=fresh).status_code == 200


def test_the_cache_forgets_entries_when_their_time_is_up():
    now = [100.0]
    cache = ApiKeyCache(clock=lambda: now[0])
    account = object()
    cache.put("digest", account, KEY_CACHE_SECONDS)
    assert cache.get("digest") is account
    now[0] += KEY_CACHE_SECONDS
    assert cache.get("digest") is None
    cache.put("other", account, 0)
    assert cache.get("other") is None
