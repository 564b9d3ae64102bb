"""The reorder benchmark chooses its prior strength without looking at the test period."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.reorder_eval import tune

TEST_CUTOFF = pd.Timestamp("2011-09-01")
VALIDATION_CUTOFF = pd.Timestamp("2011-06-01")


def history(seed: int = 0) -> pd.DataFrame:
    """40 customers buying 3 products every 2-6 weeks through 2011, and 10 who pause from May to October."""
    rng = np.random.default_rng(seed)
    rows = []
    for customer in range(40):
        for product in range(3):
            day = pd.Timestamp("2011-01-03") + pd.Timedelta(days=int(rng.integers(0, 30)))
            while day < pd.Timestamp("2011-12-01"):
                rows.append((customer, product, day, 1))
                day += pd.Timedelta(days=int(rng.integers(14, 43)))
    for customer in range(40, 50):
        for month in (1, 2, 3, 4, 10, 11):
            rows.append((customer, 0, pd.Timestamp(2011, month, 10), 1))
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "placed_at", "quantity"])


def validation_table(capsys, lines: pd.DataFrame) -> tuple[str, tuple[float, float]]:
    chosen = tune(lines, TEST_CUTOFF, VALIDATION_CUTOFF, [0.0, 2.0, 8.0])
    return capsys.readouterr().out, chosen


def test_what_happens_after_the_test_cutoff_changes_nothing_in_the_tuning(capsys) -> None:
    lines = history()
    before = lines[lines["placed_at"] < TEST_CUTOFF]
    # the test period rewritten: everyone now buys every product daily
    scrambled = lines[lines["placed_at"] >= TEST_CUTOFF].assign(placed_at=TEST_CUTOFF + pd.Timedelta(days=1))

    honest = validation_table(capsys, lines)

    assert validation_table(capsys, before) == honest
    assert validation_table(capsys, pd.concat([before, scrambled])) == honest


def test_the_validation_table_lists_every_strength_and_the_choice(capsys) -> None:
    out, (next_strength, reorder_strength) = validation_table(capsys, history())

    assert [line.split("|")[1].strip() for line in out.splitlines() if line.startswith("| ")][1:] == ["0", "2", "8"]
    assert {next_strength, reorder_strength} <= {0.0, 2.0, 8.0}
    assert f"reorder prior_strength={reorder_strength:g}" in out
