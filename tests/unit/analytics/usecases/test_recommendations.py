"""The recommendation use cases on artifacts they cannot use."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from analytics.core.errors import CRMError
from analytics.recommend.serving import RECOMMENDER
from analytics.store.artifacts import ArtifactOutdated, ArtifactStore
from analytics.usecases.recommendations import similar_to


class _OldBundle:
    """Stands for the recommender bundle as an older layout of the code pickled it."""


def test_a_recommender_pickled_before_the_restructure_asks_for_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(tmp_path / "models")
    old_module = types.ModuleType("analytics.recommendations")  # where the bundle lived before issue 14
    bundle = type("RecommenderBundle", (_OldBundle,), {"__module__": old_module.__name__})
    old_module.RecommenderBundle = bundle  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, old_module.__name__, old_module)
    store.save(RECOMMENDER, bundle(), {})
    monkeypatch.delitem(sys.modules, old_module.__name__)

    with pytest.raises(ArtifactOutdated, match=r"run `crm recommend refresh` to rebuild it") as exc:
        similar_to("85123A", artifacts=store)

    # the CLI prints a CRMError's message and exits; the action server logs it and answers politely
    assert isinstance(exc.value, CRMError)
    assert "No module named 'analytics.recommendations'" in str(exc.value)
