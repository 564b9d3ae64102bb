"""The M4 benchmark ranks us honestly and tunes on the training part only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from analytics.forecast import Drift, GlobalLagBoosting, Naive, PanelForecaster, SeasonalNaive
from bench import m4_eval
from bench.m4_tune import AUTO_GRID, backtest_forecasts, candidates, replay, validation_split


def official(*owas: float) -> pd.DataFrame:
    return pd.DataFrame({"entry": [f"entry {i}" for i in range(len(owas))], "owa": owas})


def test_our_rank_counts_every_official_entry_ahead_of_us() -> None:
    rank, above, below = m4_eval.rank_among(official(0.80, 0.74, 0.90, 0.75), 0.76)

    assert rank == 3
    assert above is not None and above["owa"] == 0.75
    assert below is not None and below["owa"] == 0.80


def test_a_tie_with_an_entry_ranks_us_behind_it() -> None:
    rank, above, _ = m4_eval.rank_among(official(0.74, 0.75), 0.74)

    assert rank == 2
    assert above is not None and above["entry"] == "entry 0"


def test_beating_every_entry_ranks_first_with_nobody_above() -> None:
    rank, above, below = m4_eval.rank_among(official(0.74, 0.75), 0.70)

    assert (rank, above) == (1, None)
    assert below is not None and below["owa"] == 0.74


def test_tuning_holds_out_the_end_of_each_training_series() -> None:
    train = [np.arange(20.0), np.arange(100.0, 130.0)]

    fit_part, window = validation_split(train, 5)

    assert [len(y) for y in fit_part] == [15, 25]
    assert window.tolist() == [[15, 16, 17, 18, 19], [125, 126, 127, 128, 129]]


def test_a_series_too_short_to_hold_out_a_window_is_refused() -> None:
    with pytest.raises(SystemExit, match="nothing is left"):
        validation_split([np.arange(5.0)], 5)


@pytest.mark.parametrize("key", ["weekly", "hourly"])
def test_the_tuning_grid_is_small_and_starts_from_the_previous_settings(key: str) -> None:
    grid = candidates(m4_eval.SETUPS[key])

    assert 2 <= len(grid) <= 10
    assert next(iter(grid)).startswith("previous")


def test_the_evaluation_refuses_to_run_without_tuned_settings(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(m4_eval, "SETTINGS_FILE", tmp_path / "missing.json")

    with pytest.raises(SystemExit, match=r"m4_tune\.py --frequency weekly"):
        m4_eval.global_models(m4_eval.SETUPS["weekly"], n_jobs=1)


def small_auto_forecaster() -> PanelForecaster:
    return PanelForecaster(
        local={"naive": Naive(), "drift": Drift(), "snaive": SeasonalNaive(season_length=4)},
        global_models={"global": GlobalLagBoosting(season_length=4, lags=[1, 2, 4], max_iter=20)},
        horizon=3,
        season_length=1,
    )


def small_panel() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(60.0)
    return [
        10 + k + np.sin(2 * np.pi * t / 4) * k + rng.normal(0, 0.5 + k / 4, len(t)) + 0.05 * k * t for k in range(8)
    ]


def test_every_tuning_setting_chooses_as_a_fresh_fit_with_it_would() -> None:
    template, panel = small_auto_forecaster(), small_panel()
    names, forecasts, offsets, _ = backtest_forecasts(template, panel, max_windows=3)

    for settings in AUTO_GRID:
        replayed = replay(template, settings, names, panel, forecasts, offsets)
        fresh = clone(template).set_params(**settings).fit(panel)

        assert replayed.chosen_ == fresh.chosen_, settings
        np.testing.assert_allclose(replayed.predict(3), fresh.predict(3), err_msg=str(settings))
    assert len({tuple(s.values()) for s in AUTO_GRID}) == len(AUTO_GRID) <= 12


def write_settings(path: Path, **extra: object) -> None:
    weekly = {"chosen": "tuned", "params": {"season_length": 52, "strategy": "direct", "horizon": 13}}
    path.write_text(json.dumps({"weekly": weekly, **extra}))


def test_the_automatic_forecaster_uses_the_selection_settings_chosen_on_validation(tmp_path, monkeypatch) -> None:
    chosen = {"n_windows": 3, "combine": "best", "select": "series"}
    write_settings(tmp_path / "s.json", auto={"weekly": {"chosen": "3 windows", "params": chosen, "global": "tuned"}})
    monkeypatch.setattr(m4_eval, "SETTINGS_FILE", tmp_path / "s.json")

    auto = m4_eval.auto_forecaster(m4_eval.SETUPS["weekly"], n_jobs=1)

    assert (auto.n_windows, auto.combine, auto.select) == (3, "best", "series")


def test_without_tuned_selection_settings_the_automatic_forecaster_keeps_the_previous_ones(
    tmp_path, monkeypatch
) -> None:
    write_settings(tmp_path / "s.json")
    monkeypatch.setattr(m4_eval, "SETTINGS_FILE", tmp_path / "s.json")

    auto = m4_eval.auto_forecaster(m4_eval.SETUPS["weekly"], n_jobs=1)

    assert (auto.n_windows, auto.combine, auto.select) == (1, "best-combination", "panel")
