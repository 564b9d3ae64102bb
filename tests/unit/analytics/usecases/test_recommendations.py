"""The recommendation use cases on artifacts they cannot use."""

from __future__ import annotations

import sys
import threading
import types
from pathlib import Path

import pytest

from analytics.core.errors import CRMError
from analytics.recommend import serving
from analytics.recommend.serving import RECOMMENDER
from analytics.store.artifacts import ArtifactOutdated, ArtifactStore
from analytics.usecases.recommendations import similar_to, warm_up


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


def test_warming_up_loads_what_is_published_in_the_background_and_skips_the_rest(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "models")
    store.save(RECOMMENDER, {"stands for": "a recommender"}, {})
    assert warm_up(store) == [RECOMMENDER]  # basket and next-purchase rules not published: skipped, no error
    for _ in range(400):
        if serving.current_if_loaded(store, RECOMMENDER) is not None:
            break
        threading.Event().wait(0.05)
    assert serving.current_if_loaded(store, RECOMMENDER) == {"stands for": "a recommender"}
