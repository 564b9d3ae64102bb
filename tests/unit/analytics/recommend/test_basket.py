"""Frequently bought together: specifications with obvious answers, and the
Groceries known answer (R arules' Groceries data, Hahsler et al.)."""

from __future__ import annotations

import itertools
import pickle
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend.basket import ALGORITHMS, DEFAULTS, BasketConfig, BasketRules, check_baskets
from tests.conftest import ROOT

SHARED = ROOT.parent / "shared"
GROCERIES = SHARED / "datasets" / "groceries_arules" / "groceries.csv"

# bread and butter are always bought together; milk and tea are not tied to them.
BREAD_AND_BUTTER = [
    ["bread", "butter"],
    ["bread", "butter", "milk"],
    ["milk"],
    ["tea"],
    ["bread", "butter", "tea"],
    ["milk", "tea"],
]


def random_baskets(n: int = 400, seed: int = 7) -> list[list[str]]:
    """Baskets with planted pairs (a-b, c-d-e) over a background of independent items."""
    rng = np.random.default_rng(seed)
    background = [f"x{i}" for i in range(10)]
    baskets = []
    for _ in range(n):
        basket = {item for item in background if rng.random() < 0.15}
        if rng.random() < 0.3:
            basket |= {"a", "b"}
        if rng.random() < 0.2:
            basket |= {"c", "d", "e"} if rng.random() < 0.7 else {"c", "d"}
        if rng.random() < 0.1:
            basket.add("a")
        baskets.append(sorted(basket) or ["x0"])
    return baskets


def brute_support(baskets: list[list[str]], itemset: frozenset) -> float:
    return sum(itemset <= set(b) for b in baskets) / len(baskets)


# --------------------------------------------------------------------------- obvious answers


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_bread_and_butter_always_together_gives_butter_for_bread(algorithm: str) -> None:
    rules = BasketRules(min_support=0.3, min_confidence=0.5, min_lift=1.0, algorithm=algorithm).fit(BREAD_AND_BUTTER)
    top = rules.for_item("bread")[0]
    assert top.item == "butter"
    assert top.confidence == pytest.approx(1.0)
    assert top.support == pytest.approx(0.5)
    assert top.lift == pytest.approx(2.0) and top.lift > 1
    assert top.antecedent == ("bread",)
    assert top.reason == "bought together with bread in 100% of orders that contain bread"
    assert rules.for_item("butter").item_ids == ["bread"]


def test_the_reason_gives_the_share_of_orders_with_the_antecedent() -> None:
    baskets = [["mug", "saucer"]] * 7 + [["mug"]] * 93 + [["spoon"]] * 100
    rules = BasketRules(min_support=0.03, min_confidence=0.05, min_lift=1.0).fit(baskets)
    (suggestion,) = rules.for_item("mug")
    assert suggestion.item == "saucer"
    assert suggestion.reason == "bought together with mug in 7% of orders that contain mug"


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_itemsets_and_rules_respect_every_threshold_and_match_brute_force(algorithm: str) -> None:
    baskets = random_baskets()
    rules = BasketRules(min_support=0.05, min_confidence=0.4, min_lift=1.1, max_len=3, algorithm=algorithm).fit(baskets)
    assert len(rules.itemsets_) > 10 and len(rules.rules_) > 5
    assert (rules.itemsets_["support"] >= 0.05).all()
    assert rules.itemsets_["length"].max() <= 3
    for row in rules.itemsets_.itertuples():
        assert row.support == pytest.approx(brute_support(baskets, row.itemsets))
    # every itemset at min_support is found
    items = sorted({i for b in baskets for i in b})
    expected = {
        frozenset(c)
        for k in (1, 2, 3)
        for c in itertools.combinations(items, k)
        if brute_support(baskets, frozenset(c)) >= 0.05
    }
    assert set(rules.itemsets_["itemsets"]) == expected
    r = rules.rules_
    assert (r["support"] >= 0.05).all() and (r["confidence"] >= 0.4).all() and (r["lift"] >= 1.1).all()
    assert (r["consequents"].map(len) == 1).all()
    for row in r.itertuples():
        both = row.antecedents | row.consequents
        assert row.confidence == pytest.approx(brute_support(baskets, both) / brute_support(baskets, row.antecedents))
    # ranked by lift, then confidence
    keys = list(zip(r["lift"].round(12), r["confidence"].round(12)))
    assert keys == sorted(keys, reverse=True)


def test_the_three_miners_find_the_same_itemsets_and_rules() -> None:
    baskets = random_baskets(seed=11)
    params: dict[str, Any] = {"min_support": 0.04, "min_confidence": 0.3, "min_lift": 1.0, "max_len": None}
    fitted = {algorithm: BasketRules(**params, algorithm=algorithm).fit(baskets) for algorithm in ALGORITHMS}
    assert set(fitted) == {"apriori", "fpgrowth", "eclat"}
    assert len(fitted["eclat"].rules_) > 5
    for algorithm in ("apriori", "fpgrowth"):
        pd.testing.assert_frame_equal(fitted[algorithm].itemsets_, fitted["eclat"].itemsets_, check_exact=True)
        pd.testing.assert_frame_equal(fitted[algorithm].rules_, fitted["eclat"].rules_, check_exact=True)


def groceries_like(n: int = 600, seed: int = 5) -> list[list[str]]:
    """Small Groceries-like baskets: a long tail of items, a few very common ones, planted
    triples (pasta, tomato sauce, parmesan) and pairs (beer and crisps)."""
    rng = np.random.default_rng(seed)
    staples = {"whole milk": 0.26, "other vegetables": 0.19, "rolls/buns": 0.18, "soda": 0.17, "yogurt": 0.14}
    tail = [f"item {i:02d}" for i in range(40)]
    baskets = []
    for _ in range(n):
        basket = {item for item, p in staples.items() if rng.random() < p}
        basket |= {str(item) for item in rng.choice(tail, size=int(rng.integers(0, 4)), replace=False)}
        if rng.random() < 0.12:
            basket |= {"pasta", "tomato sauce"} | ({"parmesan"} if rng.random() < 0.6 else set())
        if rng.random() < 0.1:
            basket |= {"beer", "crisps"}
        if "yogurt" in basket and rng.random() < 0.5:
            basket.add("whole milk")
        baskets.append(sorted(basket) or ["whole milk"])
    return baskets


def test_on_groceries_like_baskets_the_three_miners_give_identical_rules() -> None:
    baskets = groceries_like()
    params: dict[str, Any] = {"min_support": 0.02, "min_confidence": 0.2, "min_lift": 1.0, "max_len": 3}
    fitted = {algorithm: BasketRules(**params, algorithm=algorithm).fit(baskets) for algorithm in ALGORITHMS}
    eclat_rules = fitted["eclat"].rules_
    assert frozenset({"pasta", "tomato sauce"}) in set(eclat_rules["antecedents"])
    assert fitted["eclat"].for_basket(["pasta", "tomato sauce"]).item_ids[0] == "parmesan"
    for algorithm in ("apriori", "fpgrowth"):
        assert fitted[algorithm].rules_.equals(eclat_rules), algorithm
        assert fitted[algorithm].itemsets_.equals(fitted["eclat"].itemsets_), algorithm


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    baskets=st.lists(
        st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True), min_size=5, max_size=40
    ),
    min_support=st.sampled_from([0.05, 0.1, 0.2, 0.3]),
    max_len=st.sampled_from([2, 3, None]),
)
def test_the_three_miners_agree_on_random_baskets(
    baskets: list[list[str]], min_support: float, max_len: Optional[int]
) -> None:
    results = {}
    for algorithm in ALGORITHMS:
        try:
            fitted = BasketRules(
                min_support=min_support, min_confidence=0.0, min_lift=0.0, max_len=max_len, algorithm=algorithm
            ).fit(baskets)
        except InvalidInput as exc:  # no frequent pair: every miner must say so, in the same words
            results[algorithm] = str(exc)
        else:
            results[algorithm] = (fitted.itemsets_, fitted.rules_)
    first = results["eclat"]
    if isinstance(first, str):
        assert results["apriori"] == results["fpgrowth"] == first
        return
    itemsets, rules = first
    # the brute-force answer: every itemset up to max_len in min_support of the baskets
    items = sorted({i for b in baskets for i in b})
    longest = max_len or len(items)
    expected = {
        frozenset(c)
        for k in range(1, longest + 1)
        for c in itertools.combinations(items, k)
        if brute_support(baskets, frozenset(c)) >= min_support - 1e-12
    }
    assert set(itemsets["itemsets"]) == expected
    for algorithm in ("apriori", "fpgrowth"):
        other = results[algorithm]
        assert not isinstance(other, str), algorithm
        assert other[0].equals(itemsets) and other[1].equals(rules), algorithm


def test_max_len_bounds_the_itemsets() -> None:
    baskets = random_baskets()
    two = BasketRules(min_support=0.05, min_confidence=0.1, min_lift=0.0, max_len=2).fit(baskets)
    assert two.itemsets_["length"].max() == 2
    assert (two.rules_["antecedents"].map(len) == 1).all()


def test_a_basket_query_excludes_what_is_in_the_basket_and_dedupes() -> None:
    rules = BasketRules(min_support=0.05, min_confidence=0.3, min_lift=1.0).fit(random_baskets())
    suggestions = rules.for_basket(["c", "d"], n=10)
    assert suggestions.item_ids == ["e"]  # c and d are in the basket; e comes from c, d and {c, d}
    best = suggestions[0]
    assert set(best.antecedent) <= {"c", "d"}
    candidates = rules.rules_[rules.rules_["consequents"] == frozenset({"e"})]
    candidates = candidates[candidates["antecedents"].map(lambda a: a <= {"c", "d"})]
    assert best.lift == pytest.approx(candidates["lift"].max())
    assert rules.for_basket(["c", "d", "e"]).item_ids == []
    assert (
        rules.for_basket(["c", "d", "e"]).reason == "everything often bought with c, d and e is already in the basket."
    )


def test_a_basket_query_uses_rules_whose_antecedent_is_contained_in_the_basket() -> None:
    baskets = [["a", "b", "c"]] * 5 + [["a"]] * 5 + [["b"]] * 5 + [["c"]] * 10
    rules = BasketRules(min_support=0.1, min_confidence=0.5, min_lift=1.0, max_len=3).fit(baskets)
    assert "c" not in rules.for_item("a").item_ids  # a -> c has confidence 0.5 but lift 0.5 / (15/25) < 1
    suggestion = rules.for_basket(["a", "b"])[0]
    assert suggestion.item == "c" and set(suggestion.antecedent) == {"a", "b"}
    assert suggestion.confidence == pytest.approx(1.0)
    assert suggestion.reason == "bought together with a and b in 100% of orders that contain a and b"


def test_n_limits_the_suggestions() -> None:
    rules = BasketRules(min_support=0.05, min_confidence=0.1, min_lift=0.0).fit(random_baskets())
    assert len(rules.for_item("a", n=1)) == 1
    assert len(rules.for_item("a", n=3)) == 3
    assert len(rules.for_basket(["a", "c"], n=2)) == 2


# --------------------------------------------------------------------------- empty answers


def test_an_unknown_item_gives_an_empty_answer_with_a_reason() -> None:
    rules = BasketRules(min_support=0.3, min_confidence=0.5, min_lift=1.0).fit(BREAD_AND_BUTTER)
    unknown = rules.for_item("caviar")
    assert len(unknown) == 0 and unknown.item_ids == []
    assert unknown.reason == "caviar is in none of the 6 orders the rules were learnt from."
    with_jam = BasketRules(min_support=0.3, min_confidence=0.5).fit([*BREAD_AND_BUTTER, ["jam"]])
    assert with_jam.for_item("jam").reason == (
        "jam is in 1 of 7 orders (14%), below min_support 30%: too few orders to tell what goes with it."
    )
    assert rules.for_item("milk").reason.startswith("nothing is bought with milk often enough to suggest")
    assert rules.for_basket([]).reason == "the basket is empty: add an item to get suggestions."
    assert rules.for_basket(["caviar"]).item_ids == []


def test_serving_before_fit_raises_not_fitted() -> None:
    rules = BasketRules()
    with pytest.raises(NotFittedError, match="BasketRules is not fitted"):
        rules.for_item("bread")
    with pytest.raises(NotFittedError):
        rules.for_basket(["bread"])


# --------------------------------------------------------------------------- input


def test_the_lines_frame_gives_one_basket_per_order() -> None:
    lines = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2, 3, 3, 4],
            "order_id": [10, 10, 10, 11, 11, 12, 12, 13],
            "product_id": [100, 200, 100, 100, 200, 300, 100, 300],
            "quantity": [1, 2, 1, 1, 1, 1, 1, 1],
        }
    )
    rules = BasketRules(min_support=0.5, min_confidence=0.5, min_lift=1.0).fit(
        lines, names={100: "Jam Jar", 200: "Jam Lid"}
    )
    assert rules.n_baskets_ == 4
    assert rules.item_counts_.to_dict() == {100: 3, 300: 2, 200: 2}  # the repeated line counts once
    top = rules.for_item(200)[0]
    assert top.item == 100 and top.confidence == pytest.approx(1.0)
    assert top.reason == "bought together with Jam Lid in 100% of orders that contain Jam Lid"
    assert rules.for_item(999).reason == "product 999 is in none of the 4 orders the rules were learnt from."


@pytest.mark.parametrize(
    ("baskets", "message"),
    [
        ([], "baskets is empty"),
        ([["a"], []], "basket 1 is empty"),
        (["bread", "butter"], "basket 0 is 'bread', not a list of items"),
        ("bread", "baskets must be the lines frame or a list"),
        ([["a", None]], "missing item"),
        ([["a", ["b"]]], "cannot be an item id"),
        (pd.DataFrame({"order_id": [1]}), "lacks column"),
        (pd.DataFrame({"order_id": [], "product_id": []}), "frame is empty"),
        (pd.DataFrame({"order_id": [1, None], "product_id": [1, 2]}), "missing values in order_id"),
    ],
)
def test_bad_baskets_say_what_to_fix(baskets: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        BasketRules().fit(baskets)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_support": 0}, "min_support"),
        ({"min_support": 1.5}, "min_support"),
        ({"min_support": "1%"}, "min_support"),
        ({"min_confidence": -0.1}, "min_confidence"),
        ({"min_confidence": 1.01}, "min_confidence"),
        ({"min_lift": -1}, "min_lift"),
        ({"min_lift": float("nan")}, "min_lift"),
        ({"max_len": 1}, "max_len"),
        ({"max_len": 2.5}, "max_len"),
        ({"algorithm": "charm"}, "algorithm must be one of apriori, fpgrowth, eclat"),
    ],
)
def test_thresholds_out_of_range_say_what_to_fix(params: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        BasketRules(**params).fit(BREAD_AND_BUTTER)
    with pytest.raises(InvalidInput, match=message):
        BasketConfig(**params)


def test_no_frequent_itemsets_says_to_lower_min_support() -> None:
    with pytest.raises(InvalidInput, match=r"no item is in 90%.*lower min_support to 0\.5 or less"):
        BasketRules(min_support=0.9).fit(BREAD_AND_BUTTER)
    with pytest.raises(InvalidInput, match=r"no pair of items is in 60%.*lower min_support to 0\.5 or less"):
        BasketRules(min_support=0.6).fit([["a", "b"], ["a", "b"], ["a", "b"], ["a"], ["a"], ["b"]])
    with pytest.raises(InvalidInput, match="no two items are ever in the same basket"):
        BasketRules(min_support=0.1).fit([["a"], ["b"], ["a"]])


def test_bad_queries_say_what_to_fix() -> None:
    rules = BasketRules(min_support=0.3, min_confidence=0.5).fit(BREAD_AND_BUTTER)
    with pytest.raises(InvalidInput, match="n must be a whole number"):
        rules.for_item("bread", n=0)
    with pytest.raises(InvalidInput, match="use for_basket"):
        rules.for_item(["bread", "butter"])  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="item_ids must be a list"):
        rules.for_basket("bread")


def test_check_baskets_dedupes_items_within_a_basket() -> None:
    matrix = check_baskets([["a", "a", "b"], ["b"]])
    assert matrix.n_baskets == 2 and matrix.counts().tolist() == [1, 2]


# --------------------------------------------------------------------------- configuration, persistence, speed


def test_defaults_live_in_the_config_and_a_config_builds_an_estimator() -> None:
    default = BasketRules()
    assert (default.min_support, default.min_confidence, default.min_lift, default.max_len, default.algorithm) == (
        DEFAULTS.min_support,
        DEFAULTS.min_confidence,
        DEFAULTS.min_lift,
        DEFAULTS.max_len,
        DEFAULTS.algorithm,
    )
    config = BasketConfig.from_mapping({"min_support": 0.3, "min_confidence": 0.5, "algorithm": "apriori"})
    rules = BasketRules.from_config(config)
    assert (rules.min_support, rules.algorithm, rules.max_len) == (0.3, "apriori", DEFAULTS.max_len)
    assert rules.fit(BREAD_AND_BUTTER).for_item("bread").item_ids == ["butter"]
    with pytest.raises(InvalidInput, match=r"unknown key\(s\) \['min_supp'\]"):
        BasketConfig.from_mapping({"min_supp": 0.1})


def test_a_fitted_model_pickles_and_answers_the_same() -> None:
    rules = BasketRules(min_support=0.05, min_confidence=0.3).fit(random_baskets())
    again = pickle.loads(pickle.dumps(rules))
    assert again.for_item("a") == rules.for_item("a")
    assert again.for_basket(["c", "x1"]) == rules.for_basket(["c", "x1"])


def test_for_item_answers_what_a_search_of_every_rule_would() -> None:
    """The serving index (its speed is measured by bench/basket_eval.py) gives exactly the rules' answer."""
    rng = np.random.default_rng(0)
    baskets = [list(rng.choice(60, size=rng.integers(2, 12), replace=False)) for _ in range(3000)]
    rules = BasketRules(min_support=0.003, min_confidence=0.0, min_lift=0.0, max_len=2).fit(baskets)
    assert len(rules.rules_) > 1000
    for item in range(70):  # 60..69 were never sold
        searched = [
            next(iter(rule.consequents))
            for rule in rules.rules_.itertuples(index=False)
            if set(rule.antecedents) == {item}
        ][:5]
        assert [s.item for s in rules.for_item(item, n=5)] == searched


# --------------------------------------------------------------------------- known answer: Groceries


def read_groceries() -> list[list[str]]:
    # Items are stripped: the file has "cream cheese " with a trailing space, as arules does.
    with GROCERIES.open(encoding="utf-8") as fh:
        return [[item.strip() for item in line.split(",") if item.strip()] for line in fh.read().splitlines()]


@pytest.mark.skipif(not GROCERIES.exists(), reason=f"the shared Groceries data is not at {GROCERIES}")
def test_groceries_supports_match_the_published_figures() -> None:
    # Published in datasets/groceries_arules/README.txt: 9,835 baskets, 169 items, whole milk in 2,513
    # baskets (support 0.2555), then other vegetables 1,903 and rolls/buns 1,809.
    baskets = read_groceries()
    rules = BasketRules().fit(baskets)
    assert rules.n_baskets_ == 9835
    assert len(rules.item_counts_) == 169
    top = rules.itemsets_.head(3)
    assert list(top["itemsets"]) == [
        frozenset({"whole milk"}),
        frozenset({"other vegetables"}),
        frozenset({"rolls/buns"}),
    ]
    assert round(float(top["support"].iloc[0]), 4) == 0.2555
    assert (top["support"] * 9835).round().astype(int).tolist() == [2513, 1903, 1809]
    assert rules.for_item("whole milk").item_ids  # the most frequent item is bought with something


def test_the_benchmark_stops_with_a_clear_message_when_the_groceries_data_is_missing(tmp_path: Path) -> None:
    from bench.basket_eval import read_groceries

    with pytest.raises(SystemExit, match=r"Groceries data not found at .*missing\.csv.*--groceries PATH"):
        read_groceries(tmp_path / "missing.csv")
