"""Who is calling: API keys (hashed, scoped, expiring, revocable) and dashboard sessions.

Data endpoints take either credential. An API key belongs to one organization and carries
its scopes (write does not imply read); a session token from ``POST /api/v1/auth/login``
acts for its user in every organization the user belongs to, with every scope. Key
management takes a session token only: an API key there is refused.

    store = AuthStore(dataset, clock)
    caller = store.caller("Bearer et_live_...")       # 401 for unknown/expired/revoked keys
    caller.require("org_acme", "analytics:read")       # 404 other org, 403 missing scope
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pipelines.reference.engagetrack.dataset import (
    SCOPES,
    ApiKey,
    Dataset,
    Organization,
    User,
    hash_secret,
)
from pipelines.reference.engagetrack.errors import (
    BAD_LOGIN,
    INVALID_SESSION,
    MISSING_AUTH,
    SESSION_REQUIRED,
    ApiError,
    forbidden,
    missing_scope,
    not_found,
    plan_required,
    unauthorized,
)

KEY_PREFIX = "et_live_"
SESSION_PREFIX = "ets_"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: an API key, or a user's session."""

    organizations: frozenset[str]
    scopes: frozenset[str]
    rate_key: str  # what the rate limit counts: one key, or one user's sessions
    key: ApiKey | None = None
    user: User | None = None

    def require(self, org_id: str, scope: str | None) -> None:
        """404 for an organization the caller cannot see, 403 naming a missing scope."""
        if org_id not in self.organizations:
            raise not_found("Organization")
        if scope is not None and scope not in self.scopes:
            raise missing_scope(scope)


@dataclass(frozen=True)
class Session:
    user: User
    expires_at: datetime


class AuthStore:
    """Keys by SHA-256, sessions by SHA-256 of their token; the raw secrets are never held."""

    def __init__(self, dataset: Dataset, clock: Callable[[], datetime],
                 session_ttl: timedelta = timedelta(hours=24), plan_gate_on_data: bool = True):
        self._clock = clock
        self._ttl = session_ttl
        self._plan_gate = plan_gate_on_data
        self._orgs: dict[str, Organization] = dataset.organizations
        self._users = dataset.users
        self._keys: dict[str, ApiKey] = {
            k.key_hash: k for org in self._orgs.values() for k in org.api_keys
        }
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # --- callers -------------------------------------------------------------------------

    def caller(self, header: str | None) -> Caller:
        """The caller of a data endpoint, or 401/402."""
        token = _bearer(header)
        if token.startswith(KEY_PREFIX):
            return self._key_caller(token)
        session = self._session(token, INVALID_KEY_FOR_DATA)
        return self._session_caller(session.user)

    def session_user(self, header: str | None) -> User:
        """The user behind a session token (key management), or 401/403."""
        token = _bearer(header)
        if token.startswith(KEY_PREFIX):
            raise forbidden(SESSION_REQUIRED)
        return self._session(token, INVALID_SESSION).user

    def _key_caller(self, token: str) -> Caller:
        key = self._keys.get(hash_secret(token))
        now = self._clock()
        if key is None or key.revoked_at is not None or (
                key.expires_at is not None and key.expires_at <= now):
            raise unauthorized()
        if self._plan_gate and self._orgs[key.organization_id].plan == "maker":
            # Not documented for data endpoints (peer-apis.md §2.3): a server option.
            raise plan_required()
        return Caller(frozenset({key.organization_id}), frozenset(key.scopes),
                      f"key:{key.id}:{key.organization_id}", key=key)

    def _session_caller(self, user: User) -> Caller:
        orgs = frozenset(o.id for o in self._orgs.values() if user.id in o.members)
        return Caller(orgs, frozenset(SCOPES), f"user:{user.id}", user=user)

    def _session(self, token: str, message: str) -> Session:
        session = self._sessions.get(hash_secret(token))
        if session is None or session.expires_at <= self._clock():
            raise unauthorized(message)
        return session

    # --- login -----------------------------------------------------------------------------

    def login(self, email: str, password: str) -> tuple[str, Session]:
        """A new session token for the user, or 401 with one message for every failure."""
        user = next((u for u in self._users.values() if u.email == email.strip().lower()), None)
        if user is None or not secrets.compare_digest(user.password_hash, hash_secret(password)):
            raise unauthorized(BAD_LOGIN)
        token = SESSION_PREFIX + secrets.token_hex(24)
        session = Session(user, self._clock() + self._ttl)
        with self._lock:
            self._sessions[hash_secret(token)] = session
        return token, session

    # --- key management --------------------------------------------------------------------

    def member_org(self, user: User, org_id: str) -> Organization:
        org = self._orgs.get(org_id)
        if org is None or user.id not in org.members:
            raise not_found("Organization")
        return org

    def create_key(self, org: Organization, name: str, scopes: tuple[str, ...],
                   expires_at: datetime | None) -> tuple[str, ApiKey]:
        """A new key (its raw value returned once), or 402 on the Maker plan."""
        if org.plan == "maker":
            raise plan_required()
        raw = KEY_PREFIX + secrets.token_hex(16)
        key = ApiKey(id="key_" + secrets.token_hex(8), name=name, key_hash=hash_secret(raw),
                     last4=raw[-4:], scopes=scopes, created_at=self._clock(),
                     expires_at=expires_at, revoked_at=None, organization_id=org.id)
        with self._lock:
            org.api_keys.append(key)
            self._keys[key.key_hash] = key
        return raw, key

    def active_keys(self, org: Organization) -> list[ApiKey]:
        return [k for k in org.api_keys if k.revoked_at is None]

    def revoke(self, org: Organization, key_id: str) -> ApiKey:
        """Revoke at once: the next request with the key gets 401."""
        key = next((k for k in self.active_keys(org) if k.id == key_id), None)
        if key is None:
            raise not_found("API key")
        key.revoked_at = self._clock()
        return key


INVALID_KEY_FOR_DATA = "Invalid or expired API key"


def _bearer(header: str | None) -> str:
    if header is None or not header.startswith("Bearer ") or not header[7:].strip():
        raise ApiError(401, MISSING_AUTH)
    return header[7:].strip()
