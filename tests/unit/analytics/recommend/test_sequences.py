"""Customers who bought X later bought Y: PrefixSpan on hand-built sequences whose
patterns are known, the rules' measures, serving from a history, and bad input."""

from __future__ import annotations

import itertools
import pickle
import random

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.core.errors import InvalidInput, NotFittedError
from analytics.recommend.sequences import SequenceRules, TooManyPatterns, check_sequences, prefixspan

# Five customers' baskets in time order (one inner list per day).
#   tent then (later) torch: customers 0, 1, 2        -> <tent, torch> in 3 of 5
#   tent and torch the same day only: customer 3      -> not "later"
#   torch then tent: customer 4                       -> <torch, tent> in 1 of 5
#   stove after tent after map: customers 0 and 1     -> <map, tent, stove> in 2 of 5
#   torch after mug: customers 1 and 2                -> <mug, torch> in 2 of 5
CAMPERS = [
    [["map"], ["tent"], ["torch"], ["stove"]],
    [["map", "mug"], ["tent"], ["stove", "torch"]],
    [["tent", "mug"], ["torch"]],
    [["tent", "torch"]],
    [["torch"], ["tent"], ["mug"]],
]


def named(db_items: list, found: dict) -> dict:
    return {tuple(db_items[i] for i in pattern): count for pattern, count in found.items()}


def test_prefixspan_finds_every_pattern_with_the_number_of_customers_holding_it() -> None:
    db = check_sequences(CAMPERS)
    assert named(db.items, prefixspan(db, min_count=2)) == {
        ("map",): 2,
        ("map", "stove"): 2,
        ("map", "tent"): 2,
        ("map", "tent", "stove"): 2,
        ("map", "tent", "torch"): 2,
        ("map", "torch"): 2,
        ("mug",): 3,
        ("mug", "torch"): 2,
        ("stove",): 2,
        ("tent",): 5,
        ("tent", "stove"): 2,
        ("tent", "torch"): 3,
        ("torch",): 5,
    }


def test_max_len_bounds_the_patterns_and_min_count_one_keeps_rare_ones() -> None:
    db = check_sequences(CAMPERS)
    assert max(len(p) for p in prefixspan(db, 2, max_len=2)) == 2
    everything = named(db.items, prefixspan(db, 1))
    assert everything[("torch", "tent")] == 1
    assert everything[("torch", "tent", "mug")] == 1
    assert ("tent", "tent") not in everything  # nobody bought a tent on two days


def test_a_rule_says_how_many_customers_who_bought_x_bought_y_later() -> None:
    rules = SequenceRules(min_support=0.4, min_confidence=0.5, min_lift=0.0).fit(CAMPERS)
    rule = rules.rules_[(rules.rules_["antecedent"] == ("tent",)) & (rules.rules_["consequent"] == "torch")].iloc[0]
    assert rule["support"] == pytest.approx(3 / 5)
    assert rule["confidence"] == pytest.approx(3 / 5)  # 3 of the 5 tent buyers bought a torch on a later day
    assert rule["lift"] == pytest.approx((3 / 5) / (5 / 5))
    assert rule["antecedent support"] == pytest.approx(1.0)
    best = rules.for_history([["map"]])[0]
    assert best.item == "stove" and best.antecedent == ("map",)
    assert best.confidence == pytest.approx(1.0) and best.support == pytest.approx(2 / 5)
    assert best.reason == "100% of customers who bought map bought stove later"


def test_longer_antecedents_need_their_items_in_that_order_on_different_days() -> None:
    # c follows "a, then b" always, but follows a alone or b alone only half the time
    customers = [
        [["a"], ["b"], ["c"]],
        [["a"], ["b"], ["c"]],
        [["a"], ["x"]],
        [["b"], ["y"]],
        [["b"], ["a"]],
    ]
    rules = SequenceRules(min_support=0.4, min_confidence=0.5, min_lift=0.0, max_len=3).fit(customers)
    in_order = rules.for_history([["a"], ["b"]])[0]
    assert (in_order.item, in_order.antecedent) == ("c", ("a", "b"))
    assert in_order.confidence == pytest.approx(1.0)
    assert in_order.reason == "100% of customers who bought a, then b bought c later"
    for history in ([["b"], ["a"]], [["a", "b"]]):  # wrong order, or the same day
        suggestion = rules.for_history(history)[0]
        assert suggestion.item == "c" and len(suggestion.antecedent) == 1
        assert suggestion.confidence == pytest.approx(0.5)
    # with max_len 2 there is no rule from two items
    shorter = SequenceRules(min_support=0.4, min_confidence=0.5, min_lift=0.0, max_len=2).fit(customers)
    assert shorter.for_history([["a"], ["b"]])[0].confidence == pytest.approx(0.5)


def test_suggestions_leave_out_what_was_bought_unless_asked_and_rank_by_confidence() -> None:
    rules = SequenceRules(min_support=0.2, min_confidence=0.1, min_lift=0.0).fit(CAMPERS)
    history = [["tent"], ["torch"]]
    fresh = rules.for_history(history, n=10)
    assert fresh.item_ids and not {"tent", "torch"} & set(fresh.item_ids)
    confidences = [s.confidence for s in fresh]
    assert confidences == sorted(confidences, reverse=True)
    assert (
        "torch"
        in rules.for_history([["tent"], ["mug"]], n=10, new_only=False).item_ids
        + rules.for_history([["tent"]], n=10, new_only=False).item_ids
    )
    assert len(rules.for_history(history, n=1)) == 1


def test_a_history_with_no_matching_rule_gives_an_empty_answer_with_a_reason() -> None:
    rules = SequenceRules(min_support=0.4, min_confidence=0.5).fit(CAMPERS)
    nothing = rules.for_history([["caviar"]])
    assert nothing.item_ids == []
    assert nothing.reason.startswith("no customer who bought the same items went on to buy something else")


def test_the_lines_frame_makes_one_basket_per_customer_and_day() -> None:
    lines = pd.DataFrame(
        {
            "customer_id": [1, 1, 1, 2, 2, 3, 3],
            "order_id": [10, 11, 12, 20, 21, 30, 31],
            "product_id": [100, 200, 300, 100, 200, 100, 200],
            "placed_at": pd.to_datetime(
                [
                    "2011-01-03 09:00",
                    "2011-01-03 17:00",  # same day as the tent: not "later"
                    "2011-02-01 10:00",
                    "2011-01-05 10:00",
                    "2011-03-01 10:00",
                    "2011-04-01 10:00",
                    "2011-04-01 11:00",
                ]
            ),
        }
    )
    rules = SequenceRules(min_support=0.3, min_confidence=0.3, min_lift=0.0).fit(
        lines, names={100: "Tent", 200: "Torch"}
    )
    later = dict(zip(rules.patterns_["pattern"], rules.patterns_["customers"]))
    assert later[(100, 200)] == 1  # only customer 2 bought the torch on a later day
    assert later[(100,)] == 3
    history = pd.DataFrame({"product_id": [100], "placed_at": pd.to_datetime(["2011-05-01"])})
    top = rules.for_history(history)[0]
    assert top.reason in {
        "33% of customers who bought Tent bought Torch later",
        "33% of customers who bought Tent bought product 300 later",
    }


def test_serving_before_fit_raises_not_fitted_and_a_fitted_model_pickles() -> None:
    with pytest.raises(NotFittedError):
        SequenceRules().for_history([["tent"]])
    rules = SequenceRules(min_support=0.4, min_confidence=0.5).fit(CAMPERS)
    assert pickle.loads(pickle.dumps(rules)).for_history([["map"]]) == rules.for_history([["map"]])
    # its lookup index is rebuilt on load, not stored (loading it made a large shop's rules slow to load)
    assert "_by_antecedent" not in rules.__getstate__() and "rules_" in rules.__getstate__()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"min_support": 0}, r"min_support .* must be above 0 and at most 1, not 0"),
        ({"min_support": 1.5}, r"min_support .* must be above 0 and at most 1"),
        ({"min_support": "1%"}, "min_support .* must be a number"),
        ({"min_confidence": -0.1}, "min_confidence"),
        ({"min_confidence": 2}, "min_confidence"),
        ({"min_lift": -1}, "min_lift must be a finite number >= 0"),
        ({"max_len": 1}, "max_len must be a whole number of items >= 2"),
        ({"min_customers": 0}, "min_customers must be a whole number of customers >= 1, not 0"),
        ({"min_customers": 2.5}, "min_customers must be a whole number"),
    ],
)
def test_thresholds_out_of_range_say_what_to_fix(params: dict, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SequenceRules(**params).fit(CAMPERS)


@pytest.mark.parametrize(
    ("sequences", "message"),
    [
        ([], "sequences is empty"),
        ([[["tent"]], []], "sequence 1 is empty"),
        ([["tent", "torch"]], "basket 0 of sequence 0 is 'tent', not a list of items"),
        ([[["tent", None]]], "missing item"),
        ("tent", "sequences must be the lines frame or one list of baskets per customer"),
        (pd.DataFrame({"customer_id": [1]}), "lacks column"),
        (pd.DataFrame({"customer_id": [], "product_id": [], "placed_at": []}), "frame is empty"),
    ],
)
def test_bad_sequences_say_what_to_fix(sequences: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        SequenceRules().fit(sequences)  # type: ignore[arg-type]


def test_an_empty_history_or_a_bad_n_says_what_to_fix() -> None:
    rules = SequenceRules(min_support=0.4, min_confidence=0.5).fit(CAMPERS)
    with pytest.raises(InvalidInput, match="history is empty"):
        rules.for_history([])
    with pytest.raises(InvalidInput, match="history is empty"):
        rules.for_history(pd.DataFrame({"product_id": [], "placed_at": []}))
    with pytest.raises(InvalidInput, match="history must be the customer's baskets"):
        rules.for_history("tent")
    with pytest.raises(InvalidInput, match="n must be a whole number"):
        rules.for_history([["tent"]], n=0)


def test_a_support_nobody_reaches_says_which_would() -> None:
    with pytest.raises(
        InvalidInput, match=r"no item is bought by 5 or more of the 5 customers.*lower min_support to 0\.6"
    ):
        SequenceRules(min_support=0.9).fit([[["a"]], [["a"]], [["a"]], [["b"]], [["c"]]])


# --------------------------------------------------------------------------- against brute force


def brute_force(sequences: list[list[list[str]]], max_len: int) -> dict[tuple[str, ...], int]:
    """Count every pattern of up to max_len items by checking each customer's sequence directly."""
    items = sorted({i for s in sequences for b in s for i in b})

    def holds(sequence: list[list[str]], pattern: tuple[str, ...]) -> bool:
        day = 0
        for item in pattern:
            while day < len(sequence) and item not in sequence[day]:
                day += 1
            if day == len(sequence):
                return False
            day += 1
        return True

    counts = {}
    for length in range(1, max_len + 1):
        for pattern in itertools.product(items, repeat=length):
            counts[pattern] = sum(holds(s, pattern) for s in sequences)
    return counts


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sequences=st.lists(
        st.lists(st.lists(st.sampled_from("abcde"), min_size=1, max_size=3, unique=True), min_size=1, max_size=5),
        min_size=1,
        max_size=12,
    ),
    min_count=st.integers(1, 4),
    max_len=st.integers(1, 3),
)
def test_prefixspan_agrees_with_counting_every_pattern(
    sequences: list[list[list[str]]], min_count: int, max_len: int
) -> None:
    db = check_sequences(sequences)
    expected = {p: c for p, c in brute_force(sequences, max_len).items() if c >= min_count}
    assert named(db.items, prefixspan(db, min_count, max_len)) == expected


# --------------------------------------------------------------------------- long histories


def long_histories(customers: int, days: int, per_day: int, catalogue: int, seed: int) -> list[list[list[str]]]:
    """Customers who come back every day, each day buying ``per_day`` of the catalogue's items."""
    rng = random.Random(seed)
    items = [f"p{k:02d}" for k in range(catalogue)]
    return [[rng.sample(items, per_day) for _ in range(days)] for _ in range(customers)]


def brute_force_rules(sequences: list[list[list[str]]], min_count: int, max_len: int) -> set:
    """(antecedent, consequent, customers with both, customers with the antecedent) by counting directly."""
    counts = brute_force(sequences, max_len)
    return {
        (pattern[:-1], pattern[-1], count, counts[pattern[:-1]])
        for pattern, count in counts.items()
        if len(pattern) >= 2 and count >= min_count
    }


def test_long_histories_give_the_rules_counted_directly() -> None:
    # small enough to count every pattern of three items directly
    customers = long_histories(customers=6, days=12, per_day=3, catalogue=8, seed=7)
    rules = SequenceRules(min_support=0.5, min_confidence=0.0, min_lift=0.0).fit(customers)
    found = {
        (r.antecedent, r.consequent, round(r.support * 6), round(r.support / r.confidence * 6))
        for r in rules.rules_.itertuples()
    }
    assert found == brute_force_rules(customers, min_count=3, max_len=3)


def test_hundreds_of_purchase_days_per_customer_hold_every_pattern_and_the_fit_completes() -> None:
    # 400 days of 6 items out of 30: every customer buys every item again and again,
    # so each holds all 30 + 30**2 + 30**3 patterns of up to three items
    # (as the lines frame of a store whose dates end today, one order a day)
    customers = long_histories(customers=5, days=400, per_day=6, catalogue=30, seed=1)
    today = pd.Timestamp.now().floor("D")
    lines = pd.DataFrame(
        [
            (c, item, today - pd.Timedelta(days=400 - d) + pd.Timedelta(hours=9))
            for c, sequence in enumerate(customers)
            for d, basket in enumerate(sequence)
            for item in basket
        ],
        columns=["customer_id", "product_id", "placed_at"],
    )
    rules = SequenceRules(min_support=0.6, min_confidence=0.0, min_lift=0.0).fit(lines)
    assert len(rules.patterns_) == 30 + 30**2 + 30**3
    assert (rules.patterns_["customers"] == 5).all()
    assert len(rules.rules_) == 30**2 + 30**3


def test_more_patterns_than_max_patterns_is_refused_with_what_to_change() -> None:
    customers = long_histories(customers=5, days=400, per_day=6, catalogue=30, seed=1)
    with pytest.raises(
        InvalidInput,
        match=r"more than 1,000 patterns of up to 3 items .* Raise min_support \(now 0\.6, 3 customers\), lower max_len \(now 3\)",
    ) as refused:
        SequenceRules(min_support=0.6, max_patterns=1000).fit(customers)
    assert isinstance(refused.value, TooManyPatterns) and refused.value.min_count == 3
    # the advice works: patterns of two items (30 + 30**2) fit within the bound
    assert len(SequenceRules(min_support=0.6, max_len=2, max_patterns=1000).fit(customers).patterns_) == 930
    with pytest.raises(InvalidInput, match=r"max_patterns must be a whole number of patterns >= 1, not 0"):
        SequenceRules(max_patterns=0).fit(CAMPERS)


# --------------------------------------------------------------------------- a count of customers, not only a share


def test_min_customers_keeps_a_small_shop_from_learning_from_two_customers() -> None:
    # <mug, torch> is held by 2 of the 5 campers: 40% is above min_support, but 2 customers are below 3
    by_share = SequenceRules(min_support=0.4, min_confidence=0.0, min_lift=0.0).fit(CAMPERS)
    assert by_share.min_count_ == 2 and ("mug",) in set(by_share.rules_["antecedent"])
    by_count = SequenceRules(min_support=0.4, min_customers=3, min_confidence=0.0, min_lift=0.0).fit(CAMPERS)
    assert by_count.min_count_ == 3
    assert list(zip(by_count.rules_["antecedent"], by_count.rules_["consequent"])) == [(("tent",), "torch")]
    assert by_count.for_history([["mug"]]).items == ()


def test_too_high_a_count_says_to_lower_min_customers_and_to_what() -> None:
    with pytest.raises(
        InvalidInput, match=r"no item is bought by 6 or more of the 5 customers.*lower min_customers to 5"
    ):
        SequenceRules(min_customers=6).fit(CAMPERS)


def test_patterns_but_no_rule_is_an_empty_fit_that_says_why() -> None:
    nobody_returns = [[["tent"]], [["tent"]], [["torch"]], [["torch"]]]
    rules = SequenceRules(min_customers=2).fit(nobody_returns)
    assert rules.rules_.empty and rules.for_history([["tent"]]).items == ()
    assert rules.why_no_rules() is not None and rules.why_no_rules().startswith(  # type: ignore[union-attr]
        "no two products were bought one after the other (on different days) by 2 or more of the 4 customers"
    )
    unlikely = SequenceRules(min_support=0.4, min_lift=100).fit(CAMPERS)
    assert unlikely.rules_.empty
    assert "none is likely enough to suggest" in (unlikely.why_no_rules() or "")
    assert SequenceRules(min_support=0.4).fit(CAMPERS).why_no_rules() is None


def test_a_stricter_confidence_keeps_the_rules_a_refit_would_in_the_same_order() -> None:
    loose = SequenceRules(min_support=0.2, min_confidence=0.1, min_lift=0.0, max_len=3).fit(CAMPERS)
    strict = SequenceRules(min_support=0.2, min_confidence=0.5, min_lift=0.0, max_len=3).fit(CAMPERS)
    narrowed = loose.with_min_confidence(0.5)
    pd.testing.assert_frame_equal(narrowed.rules_, strict.rules_)
    assert narrowed.for_history([["map"], ["tent"]]) == strict.for_history([["map"], ["tent"]])
    assert len(loose.rules_) > len(strict.rules_)  # the original is left as it was
    with pytest.raises(InvalidInput, match=r"below the fitted 0\.5; refit"):
        strict.with_min_confidence(0.1)
