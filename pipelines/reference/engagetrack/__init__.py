"""The offline EngageTrack reference API (``specs/peer-apis.md`` §2, seed 004)."""
