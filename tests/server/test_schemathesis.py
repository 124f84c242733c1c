"""Property-based API tests from the served OpenAPI spec: no 5xx, responses match the schema."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from tests.server.conftest import fake_app

_app, _store = fake_app(Path(tempfile.mkdtemp(prefix="coe-schemathesis-")))
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: schemathesis.Case) -> None:
    case.call_and_validate()
