"""Versioned model artifacts: round trip, metadata, atomic saves, rollback, pruning."""

from __future__ import annotations

import json
import os
import sys
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from analytics.core.errors import InvalidInput, NotFound
from analytics.recommend.basket import BasketRules
from analytics.store import artifacts
from analytics.store.artifacts import ArtifactNotFound, ArtifactOutdated, ArtifactStore, data_hash


class Unpicklable:
    def __reduce__(self) -> tuple:
        raise RuntimeError("cannot pickle this")


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "models", build_commands={"basket_rules": "crm models build basket"})


def leftovers(store: ArtifactStore, name: str) -> list[str]:
    return sorted(p.name for p in (store.root / name).iterdir() if p.name.startswith("."))


def test_a_saved_object_loads_back_and_becomes_current(store: ArtifactStore) -> None:
    assert store.save("basket_rules", {"v": 1}, {}) == "v0001"
    assert store.save("basket_rules", {"v": 2}, {}) == "v0002"
    assert store.versions("basket_rules") == ["v0001", "v0002"]
    assert store.current("basket_rules") == "v0002"
    assert store.load("basket_rules") == {"v": 2}
    assert store.load("basket_rules", "v0001") == {"v": 1}
    assert (store.root / "basket_rules" / "v0002" / "model.joblib").is_file()
    assert (store.root / "basket_rules" / "current").read_text().strip() == "v0002"
    assert leftovers(store, "basket_rules") == []


def test_metadata_records_time_libraries_data_hash_and_what_was_passed(store: ArtifactStore) -> None:
    lines = pd.DataFrame({"order_id": [1, 1, 2], "product_id": [10, 11, 10]})
    before = datetime.now(timezone.utc)
    store.save("basket_rules", BasketRules(), {"data_hash": data_hash(lines), "n_baskets": 2})
    meta = store.metadata("basket_rules")
    on_disk = json.loads((store.root / "basket_rules" / "v0001" / "metadata.json").read_text())
    assert meta == on_disk
    created = datetime.strptime(meta["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before - timedelta(seconds=1) <= created <= datetime.now(timezone.utc)
    assert meta["data_hash"] == data_hash(lines.copy()) and meta["n_baskets"] == 2
    assert {"python", "numpy", "pandas", "scikit-learn", "mlxtend", "joblib"} <= set(meta["libraries"])
    assert meta["model_class"] == "analytics.recommend.basket.BasketRules"
    assert (meta["version"], meta["name"], meta["format"], meta["file"]) == (
        "v0001",
        "basket_rules",
        "joblib",
        "model.joblib",
    )
    assert len(meta["sha256"]) == 64 and meta["size_bytes"] > 0


def test_a_failed_save_leaves_the_previous_version_current(store: ArtifactStore) -> None:
    store.save("basket_rules", {"v": 1}, {})
    with pytest.raises(RuntimeError, match="cannot pickle"):
        store.save("basket_rules", Unpicklable(), {})
    assert store.versions("basket_rules") == ["v0001"]
    assert store.current("basket_rules") == "v0001"
    assert store.load("basket_rules") == {"v": 1}
    assert leftovers(store, "basket_rules") == []


def test_a_save_that_fails_while_moving_into_place_leaves_nothing_behind(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save("basket_rules", {"v": 1}, {})

    def disk_full(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifacts.os, "rename", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.save("basket_rules", {"v": 2}, {})
    monkeypatch.undo()
    assert store.versions("basket_rules") == ["v0001"]
    assert store.load("basket_rules") == {"v": 1}
    assert leftovers(store, "basket_rules") == []


def test_a_save_that_fails_while_switching_current_keeps_the_old_pointer(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.save("basket_rules", {"v": 1}, {})
    real_replace = os.replace

    def fail_on_pointer(src: str, dst: str) -> None:
        if Path(dst).name == "current":
            raise OSError(5, "I/O error")
        real_replace(src, dst)

    monkeypatch.setattr(artifacts.os, "replace", fail_on_pointer)
    with pytest.raises(OSError, match="I/O error"):
        store.save("basket_rules", {"v": 2}, {})
    monkeypatch.undo()
    assert store.current("basket_rules") == "v0001"
    assert store.load("basket_rules") == {"v": 1}
    assert leftovers(store, "basket_rules") == []


def test_rollback_points_current_at_the_previous_version(store: ArtifactStore) -> None:
    for v in (1, 2, 3):
        store.save("basket_rules", {"v": v}, {})
    assert store.rollback("basket_rules") == "v0002"
    assert store.load("basket_rules") == {"v": 2}
    assert store.rollback("basket_rules") == "v0001"
    with pytest.raises(InvalidInput, match="nothing to roll back to"):
        store.rollback("basket_rules")
    assert store.current("basket_rules") == "v0001"
    # a new save goes after every version, not over one
    assert store.save("basket_rules", {"v": 4}, {}) == "v0004"
    assert store.load("basket_rules") == {"v": 4}


def test_a_missing_artifact_says_which_command_builds_it(store: ArtifactStore) -> None:
    with pytest.raises(ArtifactNotFound, match=r"'basket_rules'.*never been built.*crm models build basket") as exc:
        store.load("basket_rules")
    assert isinstance(exc.value, NotFound)
    store.save("basket_rules", {"v": 1}, {})
    with pytest.raises(ArtifactNotFound, match=r"no version v0007 \(saved: v0001\)"):
        store.load("basket_rules", "v0007")
    assert store.versions("other") == []
    with pytest.raises(ArtifactNotFound, match=r"'other'.*never been built.*save it with ArtifactStore\.save"):
        store.load("other")


class _Stale:
    """Stands for a model class that has moved since its artifact was saved."""

    def __init__(self, value: int) -> None:
        self.value = value


@pytest.mark.parametrize(
    ("module", "qualname", "cause"),
    [
        ("analytics.basket", "BasketRules", "No module named 'analytics.basket'"),  # module moved (issue 14)
        ("analytics.recommend.basket", "OldBasketRules", "OldBasketRules"),  # class renamed
    ],
)
@pytest.mark.parametrize("joblib_installed", [True, False])
def test_an_artifact_pickled_before_its_class_moved_says_to_rebuild_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, qualname: str, cause: str, joblib_installed: bool
) -> None:
    if not joblib_installed:
        monkeypatch.setattr(artifacts, "joblib", None)
    store = ArtifactStore(tmp_path / "models")  # the default build commands: basket -> crm recommend refresh
    stale = type(qualname, (_Stale,), {"__module__": module, "__qualname__": qualname})
    # the class lives where the old code had it while the artifact is written ...
    if module in sys.modules:
        monkeypatch.setattr(sys.modules[module], qualname, stale, raising=False)
    else:
        old = types.ModuleType(module)
        setattr(old, qualname, stale)
        monkeypatch.setitem(sys.modules, module, old)
    store.save("basket", stale(3), {})
    # ... and is gone when it is read back
    if module == "analytics.basket":
        monkeypatch.delitem(sys.modules, module)
    else:
        monkeypatch.delattr(sys.modules[module], qualname)

    with pytest.raises(ArtifactOutdated) as exc:
        store.load("basket")

    message = str(exc.value)
    assert "'basket' v0001" in message and "older version of the code" in message
    assert cause in message
    assert message.endswith("run `crm recommend refresh` to rebuild it.")
    assert isinstance(exc.value, ArtifactNotFound)  # callers that cope with no model cope with this one too
    assert isinstance(exc.value.__cause__, (ModuleNotFoundError, AttributeError))


def test_keep_prunes_old_versions_but_never_the_current_one(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path, keep=2)
    for v in (1, 2, 3, 4):
        store.save("m", {"v": v}, {})
    assert store.versions("m") == ["v0003", "v0004"]
    store.rollback("m")
    assert store.current("m") == "v0003"
    store.save("m", {"v": 5}, {})  # v0005 is now current, so v0003 goes
    assert store.versions("m") == ["v0004", "v0005"]
    store.rollback("m")
    assert store.prune("m", 1) == []  # v0004 is current: kept
    assert store.versions("m") == ["v0004", "v0005"]


def test_bad_names_and_metadata_are_refused_before_anything_is_written(store: ArtifactStore) -> None:
    for name in ("", "../escape", ".hidden", "a/b"):
        with pytest.raises(InvalidInput, match="artifact name"):
            store.save(name, {}, {})
    with pytest.raises(InvalidInput, match="JSON-serialisable"):
        store.save("m", {}, {"when": datetime(2011, 12, 9)})
    assert not (store.root / "m").exists() or store.versions("m") == []
    with pytest.raises(InvalidInput, match="version must look like"):
        store.load("m", "latest")
    with pytest.raises(InvalidInput, match="keep"):
        ArtifactStore(store.root, keep=0)


def test_a_changed_model_file_is_refused(store: ArtifactStore) -> None:
    store.save("m", {"v": 1}, {})
    (store.root / "m" / "v0001" / "model.joblib").write_bytes(b"tampered")
    with pytest.raises(InvalidInput, match="does not match the checksum"):
        store.load("m")


def test_without_joblib_it_pickles(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(artifacts, "joblib", None)
    store.save("m", {"v": 1}, {})
    meta = store.metadata("m")
    assert (meta["format"], meta["file"]) == ("pickle", "model.pkl")
    assert store.load("m") == {"v": 1}


def test_a_fitted_basket_model_round_trips(store: ArtifactStore) -> None:
    baskets = [["bread", "butter"], ["bread", "butter", "milk"], ["milk"], ["tea"], ["bread", "butter", "tea"]]
    rules = BasketRules(min_support=0.3, min_confidence=0.5).fit(baskets)
    store.save("basket_rules", rules, {"n_baskets": rules.n_baskets_})
    loaded = store.load("basket_rules")
    assert loaded.for_item("bread") == rules.for_item("bread")
    pd.testing.assert_frame_equal(loaded.rules_, rules.rules_)


def test_data_hash_depends_on_values_and_order() -> None:
    frame = pd.DataFrame({"order_id": [1, 2], "product_id": [5, 6]})
    assert data_hash(frame) == data_hash(frame.copy())
    assert data_hash(frame) != data_hash(frame.assign(product_id=[5, 7]))
    assert data_hash(frame) != data_hash(frame.rename(columns={"product_id": "item"}))
    with pytest.raises(InvalidInput, match="data_hash takes"):
        data_hash([1, 2])


@pytest.mark.parametrize("name", ["recommender", "basket", "sequence_rules"])
def test_a_missing_recommendation_artifact_names_the_command_that_builds_it(tmp_path: Path, name: str) -> None:
    with pytest.raises(ArtifactNotFound, match=rf"'{name}'.*never been built.*crm recommend refresh"):
        ArtifactStore(tmp_path / "models").current(name)
