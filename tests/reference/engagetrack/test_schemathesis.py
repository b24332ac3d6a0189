"""The served OpenAPI document against the server itself, through schemathesis.

Every generated request (a key with every scope) must get a documented status, content type
and body shape, and never a 500.
"""

from __future__ import annotations

from pathlib import Path

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from pipelines.reference.engagetrack.app import create_app
from pipelines.reference.engagetrack.dataset import load_dataset

from .conftest import TINY, bearer

app = create_app(load_dataset(Path(TINY)), rate_limit=1_000_000)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@schema.parametrize()
@hypothesis.settings(max_examples=8, deadline=None, derandomize=True,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_every_answer_matches_the_served_spec(case):
    case.call_and_validate(headers=bearer("writer"), checks=CHECKS)
