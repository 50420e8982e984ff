"""The gemini-api global concurrency limit: created, set from config, held by the analysis task
(the real Prefect API: the embedded server of this test process)."""

from __future__ import annotations

import pytest

from flows.limits import DEFAULT_API_SLOTS, ensure_api_limit
from tasks.shot_stages import api_slot
from void_core.pipeline import stages

# Slow: the embedded Prefect API starts for it (15 s on a quiet machine).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray-prefect")]


def test_the_api_limit_is_created_kept_set_from_config_and_held_by_the_analysis(tmp_path):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
    from prefect.exceptions import ObjectNotFound

    def settings(analyzer: str) -> stages.RunSettings:
        return stages.RunSettings(run_id="r", cutlist="reel1", out_root=tmp_path,
                                  analyzer=analyzer)

    @flow
    def check() -> list:
        seen = []
        with get_client(sync_client=True) as client:
            def limit():
                found = client.read_global_concurrency_limit_by_name("gemini-api")
                return found.limit, found.active_slots

            try:
                client.delete_global_concurrency_limit_by_name("gemini-api")
            except ObjectNotFound:
                pass
            seen.append(ensure_api_limit("heuristic", {"gemini-api": 3}))  # a local analyzer
            seen.append(ensure_api_limit("gemini"))
            seen.append(limit())
            client.update_global_concurrency_limit(  # a TD's edit in the UI
                "gemini-api", GlobalConcurrencyLimitUpdate(limit=5))
            ensure_api_limit("gemini")
            seen.append(limit())  # no config value: the TD's edit stays
            ensure_api_limit("gemini", {"gemini-api": 2})
            seen.append(limit())
            with api_slot(settings("gemini")):
                seen.append(limit())
            with api_slot(settings("heuristic")):
                seen.append(limit())
            seen.append(limit())
        return seen

    assert check() == [None, "gemini-api", (DEFAULT_API_SLOTS, 0), (5, 0), (2, 0), (2, 1),
                       (2, 0), (2, 0)]
