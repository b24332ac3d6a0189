"""API-key authentication (spec §2): four failures, checked in Vemetric's order."""

from __future__ import annotations

import hashlib

from pipelines.reference.vemetric.dataset import ApiKey, Dataset, Project
from pipelines.reference.vemetric.errors import unauthorized

KEY_PREFIX = "vem_"
KEY_LENGTH = 36


class KeyStore:
    """Active keys by SHA-256 hex digest; the raw keys are never held.

    >>> store = KeyStore(dataset)
    >>> store.authenticate("Bearer vem_abcdefghijklmnopqrstuvwxyz123456").id
    '4232882524803099'
    """

    def __init__(self, dataset: Dataset):
        self._active: dict[str, tuple[Project, ApiKey]] = {
            digest: (project, key)
            for digest, (project, key) in dataset.key_lookup().items()
            if key.revoked_at is None
        }

    def authenticate(self, header: str | None) -> Project:
        """The key's project, or ApiError 401 with the exact Vemetric message."""
        if header is None:
            raise unauthorized("Missing API key. Use Authorization: Bearer <key>")
        if not header.startswith("Bearer "):
            raise unauthorized("Malformed Authorization header. Use Bearer <key>")
        key = header[len("Bearer ") :].strip()
        if not key or len(key) != KEY_LENGTH or not key.startswith(KEY_PREFIX):
            raise unauthorized("Invalid API key format")
        found = self._active.get(hashlib.sha256(key.encode()).hexdigest())
        if found is None:
            raise unauthorized("Invalid or revoked API key")
        return found[0]
