"""Loyalty tiers, points and lifecycle stages on hand-made orders."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from analytics.core.errors import CustomerNotFound, InvalidInput, NotFittedError
from analytics.customers.loyalty import DEFAULT_RULES_FILE, LoyaltyProgram, LoyaltyRules, LoyaltyStatus

TODAY = pd.Timestamp("2011-12-10")


def orders_frame(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    """(customer, days before TODAY, amount) per order."""
    return pd.DataFrame(
        {
            "customer_id": [c for c, _, _ in rows],
            "order_id": range(1, len(rows) + 1),
            "placed_at": [TODAY - pd.Timedelta(days=d) for _, d, _ in rows],
            "amount": [a for _, _, a in rows],
        }
    )


def fit(rows: list[tuple[int, float, float]], rules: LoyaltyRules | None = None) -> LoyaltyProgram:
    return LoyaltyProgram(rules).fit(orders_frame(rows), reference_date=TODAY)


# -- tiers and points ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spend", "tier", "message"),
    [
        (0.01, "Bronze", "£0.01 spent in the last year; £499.99 more to reach Silver"),
        (499.99, "Bronze", "£499.99 spent in the last year; £0.01 more to reach Silver"),
        (500.00, "Silver", "£500 spent in the last year; £1,500 more to reach Gold"),
        (1999.99, "Silver", "£1,999.99 spent in the last year; £0.01 more to reach Gold"),
        (2000.00, "Gold", "£2,000 spent in the last year; £3,000 more to reach Platinum"),
        (4999.99, "Gold", "£4,999.99 spent in the last year; £0.01 more to reach Platinum"),
        (5000.00, "Platinum", "£5,000 spent in the last year keeps you at our top tier, Platinum"),
        (80000.00, "Platinum", "£80,000 spent in the last year keeps you at our top tier, Platinum"),
    ],
)
def test_tier_boundaries_are_exact(spend: float, tier: str, message: str) -> None:
    status = fit([(1, 10, spend)]).status_of(1)
    assert status.tier == tier
    assert status.progress_message == message


def test_a_spend_made_of_several_orders_lands_exactly_on_the_threshold() -> None:
    status = fit([(1, 5, 0.1), (1, 6, 0.2), (1, 7, 1999.7)]).status_of(1)
    assert (status.tier, status.next_tier, status.amount_to_next_tier) == ("Gold", "Platinum", 3000.0)


def test_tiers_count_twelve_months_of_spend_and_points_count_everything() -> None:
    status = fit([(1, 400, 3000.0), (1, 364, 600.0), (1, 20, 100.0)]).status_of(1)
    assert status.spend_12m == 700.0
    assert status.tier == "Silver"
    assert status.points == 3700  # earned on all spend; redemptions are not modelled
    assert status.progress_message == "£700 spent in the last year; £1,300 more to reach Gold"


def test_a_long_standing_customer_with_many_points_is_told_why_the_tier_is_low() -> None:
    """Points count every order ever placed; tiers count the last year. The message names the year's spend,
    so "Bronze with 5,100 points" does not read as a mistake."""
    status = fit([(1, 700, 5000.0), (1, 30, 100.0)]).status_of(1)
    assert (status.tier, status.points) == ("Bronze", 5100)
    assert status.progress_message == "£100 spent in the last year; £400 more to reach Silver"


def test_the_message_names_the_rules_window() -> None:
    rules = LoyaltyRules(spend_window_days=180)
    assert fit([(1, 10, 50.0)], rules).status_of(1).progress_message == (
        "£50 spent in the last 6 months; £450 more to reach Silver"
    )


def test_points_follow_the_rate_and_round_down() -> None:
    rules = LoyaltyRules(points_per_pound=2.5)
    assert fit([(1, 3, 10.39)], rules).status_of(1).points == 25


def test_the_status_table_has_one_row_per_customer() -> None:
    program = fit([(1, 3, 10.0), (2, 5, 600.0), (2, 8, 1600.0)])
    table = program.status_
    assert list(table.index) == [1, 2]
    assert table.loc[2, ["n_orders", "total_spend", "tier", "next_tier"]].tolist() == [2, 2200.0, "Gold", "Platinum"]
    assert table.loc[2, "amount_to_next_tier"] == pytest.approx(2800.0)
    top = fit([(3, 5, 6000.0)]).status_
    assert top.loc[3, "next_tier"] is None and pd.isna(top.loc[3, "amount_to_next_tier"])


# -- lifecycle -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days_ago", "stage"),
    [
        ([10], "new"),  # first order within 30 days
        ([30], "new"),
        ([45], "active"),  # one order, within the 60-day minimum window
        ([60], "active"),
        ([61], "at-risk"),
        ([180], "at-risk"),
        ([181], "lapsed"),
        ([20, 50, 80, 110], "active"),  # monthly rhythm, bought 20 days ago
        ([70, 100, 130, 160], "at-risk"),  # monthly rhythm: 70 days is beyond max(60, 2 x 30)
        ([90, 140, 190, 240], "active"),  # a 50-day rhythm gives a 100-day window
        ([150, 250, 350], "active"),  # a 100-day rhythm: window 200 capped at the lapsed threshold 180
        ([185, 285, 385], "lapsed"),
        ([10, 400], "won-back"),  # back after 390 days away
        ([10, 40, 70, 100, 400], "active"),  # back 100 days ago: no longer "won-back", just active
    ],
)
def test_lifecycle_stages_follow_the_documented_rules(days_ago: list[float], stage: str) -> None:
    program = fit([(1, d, 50.0) for d in days_ago])
    assert program.status_of(1).lifecycle == stage


def test_one_customer_moves_through_the_stages_as_time_passes() -> None:
    orders = orders_frame([(1, 0, 50.0)])  # one order placed on TODAY
    stages = [
        LoyaltyProgram().fit(orders, reference_date=TODAY + pd.Timedelta(days=d)).status_of(1).lifecycle
        for d in (1, 31, 90, 200)
    ]
    assert stages == ["new", "active", "at-risk", "lapsed"]
    back = pd.concat([orders, orders_frame([(1, -300, 80.0)]).assign(order_id=2)])
    program = LoyaltyProgram().fit(back, reference_date=TODAY + pd.Timedelta(days=310))
    assert program.status_of(1).lifecycle == "won-back"


def test_the_default_reference_date_is_the_day_after_the_newest_order() -> None:
    program = LoyaltyProgram().fit(orders_frame([(1, 1.5, 50.0), (2, 100, 10.0)]))
    assert program.reference_date_ == TODAY - pd.Timedelta(days=1)
    assert program.status_.loc[2, "days_since_last_order"] == 99


# -- rules files -----------------------------------------------------------------------------------------------


def test_the_shipped_rules_file_holds_the_documented_defaults() -> None:
    assert LoyaltyRules.default() == LoyaltyRules()
    assert LoyaltyRules.from_toml(DEFAULT_RULES_FILE).tier_names == ("Bronze", "Silver", "Gold", "Platinum")


def test_rules_load_from_toml_and_keys_left_out_keep_their_defaults(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("points_per_pound = 2\n[tiers]\nVIP = 100\nMember = 0\n[windows]\nlapsed_days = 120\n")
    rules = LoyaltyRules.from_toml(path)
    assert rules.tiers == (("Member", 0.0), ("VIP", 100.0))
    assert (rules.points_per_pound, rules.lapsed_days, rules.new_days) == (2.0, 120, 30)
    status = fit([(1, 5, 150.0)], rules).status_of(1)
    assert (status.tier, status.points, status.progress_message) == (
        "VIP",
        300,
        "£150 spent in the last year keeps you at our top tier, VIP",
    )


def test_rules_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LoyaltyRules().points_per_pound = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tiers]\nSilver = 500\nGold = 2000\n", "must start at 0"),
        ("[tiers]\nBronze = 0\nSilver = 0\n", "increase strictly"),
        ('[tiers]\nBronze = 0\nSilver = "lots"\n', "must be a number"),
        ("points_per_pound = -1\n", "0 or more"),
        ("[windows]\nlapsed_days = 20\n", "must not exceed lapsed_days"),
        ("[windows]\nnew_days = 2.5\n", "whole number of days"),
        ("[windows]\nlapsed_dayz = 200\n", "unknown window"),
        ("bonus = 1\n", "unknown key"),
        ("tiers = 3\n", r"\[tiers\] must be a table"),
        ("[tiers\n", "not valid TOML"),
    ],
)
def test_bad_rules_files_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        LoyaltyRules.from_toml(path)


def test_a_missing_rules_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        LoyaltyRules.from_toml(tmp_path / "nope.toml")


# -- errors ----------------------------------------------------------------------------------------------------


def test_unknown_customers_and_unfitted_programmes() -> None:
    with pytest.raises(NotFittedError, match="LoyaltyProgram is not fitted"):
        LoyaltyProgram().status_of(1)
    with pytest.raises(CustomerNotFound, match="42"):
        fit([(1, 5, 10.0)]).status_of(42)


def test_status_of_returns_a_typed_status() -> None:
    status = fit([(7, 5, 1880.0)]).status_of(7)
    assert isinstance(status, LoyaltyStatus)
    assert status == LoyaltyStatus(
        customer_id=7,
        tier="Silver",
        next_tier="Gold",
        amount_to_next_tier=120.0,
        spend_12m=1880.0,
        points=1880,
        lifecycle="new",
        last_order_at=(TODAY - pd.Timedelta(days=5)).to_pydatetime(),
    )
    assert status.progress_message == "£1,880 spent in the last year; £120 more to reach Gold"


@pytest.mark.parametrize(
    ("orders", "message"),
    [
        (orders_frame([]), "empty"),
        (orders_frame([(1, 5, 10.0), (2, 5, float("nan"))]), "missing values in amount"),
        (orders_frame([(1, 5, -10.0)]), "negative"),
        (orders_frame([(1, 5, 0.0)]), "zero"),
        (orders_frame([(1, -2, 10.0)]), "placed after the reference date"),
    ],
)
def test_bad_orders_say_what_to_fix(orders: pd.DataFrame, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        LoyaltyProgram().fit(orders, reference_date=TODAY)


def test_rules_must_be_loyalty_rules() -> None:
    with pytest.raises(InvalidInput, match="LoyaltyRules"):
        LoyaltyProgram({"points_per_pound": 1}).fit(orders_frame([(1, 5, 10.0)]))  # type: ignore[arg-type]
