"""Prefect global concurrency limits for remote services with a quota (`gemini-api`).

A run whose analyzer calls such a service makes sure its limit exists before the first shot:
created with the farm config's `[limits]` value (else `DEFAULT_API_SLOTS`) when missing; when it
exists, only a value the config names changes it, so slots a TD set in the UI
(Concurrency -> Global) stay as they are. The analysis task holds a slot while it works
(`tasks.shot_stages.api_slot`), across every run on the server.
"""

from __future__ import annotations

from void_core import engines
from void_core.vocabulary import EngineKind

DEFAULT_API_SLOTS = 4


def ensure_api_limit(analyzer: str, configured: dict[str, int] | None = None) -> str | None:
    """Create or update the analyzer's limit; returns its name (None: a local analyzer)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    name = engines.external_api(EngineKind.ANALYSIS, analyzer)
    if name is None:
        return None
    slots = (configured or {}).get(name)
    with get_client(sync_client=True) as client:
        try:
            existing = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=slots or DEFAULT_API_SLOTS))
            except ObjectAlreadyExists:  # another run created it a moment ago
                pass
            return name
        if slots is not None and existing.limit != slots:
            client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(limit=slots))
    return name
