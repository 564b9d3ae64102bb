"""The realistic-conversation benchmark checks what the customer sees, and refuses malformed files."""

from __future__ import annotations

from bench.conversation_eval import check_turn, problems, reply_text

WHO = {"email": "jane@example.com", "name": "Jane Doe", "first_name": "Jane", "id": "7"}


def test_a_turn_passes_on_facts_and_outcomes_whatever_the_wording() -> None:
    turn = {"user": "where is 581474", "says": ["581474"], "outcome": "status_shipped"}
    assert check_turn(turn, "Your order 581474 is on its way with Royal Mail.", WHO) == []
    assert check_turn(turn, "Order 581474 has shipped; tracking RM1.", WHO) == []
    assert check_turn(turn, "Order 581473 is on its way.", WHO) == ["says '581474'"]


def test_what_no_customer_should_see_fails_every_turn() -> None:
    turn = {"user": "hi", "outcome": "greeting"}
    assert "did not understand" in check_turn(turn, "Hello! Sorry, I didn't quite understand that.", WHO)
    assert "never: a problem on our side" in check_turn(turn, "Hello, a problem on our side.", WHO)
    assert check_turn(turn, "", WHO) == ["empty reply"]
    assert check_turn({"user": "x", "outcome": "rephrase"}, "Sorry, I didn't quite understand that.", WHO) == []


def test_a_question_must_be_asked_and_placeholders_are_the_customers() -> None:
    turn = {"user": "cancel it", "asks": "yes_no", "not_says": ["{email}"]}
    assert check_turn(turn, "Do you want me to cancel order 581580? Please answer yes or no.", WHO) == []
    assert check_turn(turn, "Do you want me to cancel it. Answer yes or no.", WHO) == ["asks yes_no"]
    assert check_turn(turn, "Do you want me to cancel? jane@example.com", WHO) == ["not_says '{email}'"]


def test_the_reply_includes_buttons_and_product_cards() -> None:
    text = reply_text(
        [
            {"text": "Which one?", "buttons": [{"title": "Red", "payload": "/inform"}]},
            {"custom": {"products": [{"name": "Lunch Bag Red Retrospot", "price": 1.65}]}},
        ]
    )
    assert "[Red]" in text and "Lunch Bag Red Retrospot £1.65" in text


def test_a_malformed_conversation_file_is_refused_with_what_to_fix() -> None:
    found = problems(
        [
            {"id": "a", "turns": [{"user": "hi", "outcome": "no_such_outcome"}]},
            {"id": "a", "signed_in": True, "turns": [{"user": "where is it"}]},
            {"id": "b", "turns": [{"user": "{email}", "says": "not a list"}]},
        ]
    )
    assert "a turn 1: unknown outcome 'no_such_outcome'" in found
    assert "a: duplicate id" in found and "a: signed_in needs a customer" in found
    assert "a turn 1: checks nothing (give says, says_any, asks, outcome or silent)" in found
    assert "b turn 1: `says` must be a list of strings" in found
    assert "b turn 1: placeholder without a customer" in found


def test_the_committed_conversation_files_are_well_formed() -> None:
    from bench.conversation_eval import load

    for split in ("dev", "heldout"):
        conversations = load(split)
        assert problems(conversations) == [] and len(conversations) >= 100
