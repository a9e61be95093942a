"""Schemathesis hooks: sign every POST /webhooks/billing like the billing provider does, and send the status
token to the status endpoints (GET /tenants/{id}, /jobs/{id}, /events/{id}, /metrics).

The webhook is authenticated by `Billing-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + raw body)>`,
so a static header cannot authenticate a generated body. An auth provider marks the requests that should
carry credentials; right before each call, `before_call` serializes the body itself (the exact bytes then
sent) and replaces the marker with the signature of those bytes. Requests from which Schemathesis removed
the credentials (its `ignored_auth` probes) or into which it put its own invalid ones stay unsigned, and
must get 401.

The status endpoints take `Authorization: Bearer <status token>` (a token of their own, never the webhook
secret); a second auth provider, scoped to those paths, sets it. Schemathesis' `ignored_auth` check then
sends them without it and must get 401.

Used by scripts/schemathesis.sh (SCHEMATHESIS_HOOKS=signing_hooks, this folder on PYTHONPATH); the secret is
WEBHOOK_SECRET, the status token STATUS_TOKEN.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from typing import Any

import schemathesis
from schemathesis.core import NotSet
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import CoveragePhaseData, CoverageScenario
from schemathesis.transport.prepare import prepare_body

HEADER = "Billing-Signature"
MARKER = "sign-me"
SECRET = os.environ.get("WEBHOOK_SECRET", "")
STATUS_TOKEN = os.environ.get("STATUS_TOKEN", "")
# The operations behind the status token, by their OpenAPI path.
STATUS_PATHS = r"^/(tenants|jobs|events)/\{id\}$|^/metrics$"


def signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def raw_body(case: Any) -> bytes | None:
    """The bytes the request will carry, or None when they cannot be pinned (then the request stays unsigned)."""
    if isinstance(case.body, NotSet):
        return b""
    value = prepare_body(case)
    if isinstance(value, bytes):
        return value
    try:
        return json.dumps(value, allow_nan=False).encode()
    except (TypeError, ValueError):
        return None


def _header_key(headers: dict[str, Any]) -> str | None:
    return next((k for k in headers if k.lower() == HEADER.lower()), None)


def _tests_missing_signature(case: Any) -> bool:
    """A coverage case that leaves the signature header out on purpose (the auth provider put the marker back)."""
    data = case.meta.phase.data if case.meta is not None else None
    return (
        isinstance(data, CoveragePhaseData)
        and data.scenario == CoverageScenario.MISSING_PARAMETER
        and data.parameter_location == ParameterLocation.HEADER
        and (data.parameter or "").lower() == HEADER.lower()
    )


@schemathesis.auth(refresh_interval=None).apply_to(path="/webhooks/billing")
class BillingSignature:
    """Marks the requests that carry credentials; the real signature is computed per request in before_call."""

    def get(self, case: Any, context: Any) -> str:
        return MARKER

    def set(self, case: Any, data: str, context: Any) -> None:
        headers = dict(case.headers or {})
        key = _header_key(headers)
        if key is not None:
            del headers[key]
        headers[HEADER] = data
        case.headers = headers


@schemathesis.auth(refresh_interval=None).apply_to(path_regex=STATUS_PATHS)
class StatusToken:
    """The bearer token of the status endpoints."""

    def get(self, case: Any, context: Any) -> str:
        return STATUS_TOKEN

    def set(self, case: Any, data: str, context: Any) -> None:
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        headers["Authorization"] = f"Bearer {data}"
        case.headers = headers


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if case.method.upper() != "POST" or not case.path.startswith("/webhooks/"):
        return
    headers = dict(case.headers or {})
    key = _header_key(headers)
    if key is None or headers[key] != MARKER:
        return
    body = raw_body(case)
    if body is None or _tests_missing_signature(case):
        del headers[key]
        case.headers = headers
        return
    if not isinstance(case.body, NotSet):
        # Send exactly the bytes that were signed.
        kwargs["data"] = body
    headers[key] = signature(SECRET, body)
    case.headers = headers
