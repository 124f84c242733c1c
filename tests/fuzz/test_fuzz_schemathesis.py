"""Schemathesis against the served OpenAPI spec with invalid data (negative mode), as a complement to
tests/server/test_schemathesis.py (valid data): wrong types, missing fields, out-of-range values — the server
answers every one with a 4xx in OpenAI's error shape, never a 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode

from tests.server.conftest import fake_app

_app, _store = fake_app(Path(tempfile.mkdtemp(prefix="coe-schemathesis-neg-")))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)
schema.config.generation.update(modes=[GenerationMode.NEGATIVE])


@schema.include(path_regex="^/v1/").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_invalid_requests_are_4xx(case: schemathesis.Case) -> None:
    response = case.call()
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    if response.status_code >= 400:
        err = response.json()["error"]
        assert err["message"] and err["type"]
