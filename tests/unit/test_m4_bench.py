"""The M4 benchmark ranks us honestly and tunes on the training part only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench import m4_eval
from bench.m4_tune import candidates, validation_split


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
