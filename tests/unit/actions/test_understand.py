"""Details customers give in passing (actions/dialogue/understand.py): addresses, reasons, orders, cues."""

from __future__ import annotations

import pytest

from actions.dialogue.specs import faq_topic
from actions.dialogue.understand import (
    Turn,
    address_in,
    after_greeting,
    asks_for_kind,
    asks_what_we_have,
    checks_an_order,
    clauses,
    compares,
    deletes_data,
    email_in,
    in_catalogue_sizes,
    is_correction,
    is_follow_up,
    is_gibberish,
    means_all_of_them,
    names_product_request,
    order_numbers,
    order_question_of,
    ordinal_choice,
    reason_in,
    returned_thing,
    says_latest,
    says_mine,
    says_not_received,
    says_reorder,
    wants_to_stop,
    with_new_postcode,
)


def turn(text: str, **entities: str) -> Turn:
    return Turn.from_parse(
        {"text": text, "intent": {"name": "inform", "confidence": 0.9}, "entities": [
            {"entity": k, "value": v, "start": 0, "end": len(v)} for k, v in entities.items()
        ]}
    )  # fmt: skip


@pytest.mark.parametrize(
    ("message", "address"),
    [
        (
            "please change the delivery address of order 581580 to 12 High Street, Leeds LS1 4AB",
            "12 High Street, Leeds LS1 4AB",
        ),
        ("can you send it to 10 Downing St, London SW1A 2AA instead", "10 Downing St, London SW1A 2AA"),
        ("my new address is flat 2, 5 Park Road, Bristol BS1 4DJ thanks", "flat 2, 5 Park Road, Bristol BS1 4DJ"),
        ("change adress for 581580 pls its 7 Elm Close Manchester M1 1AE", "7 Elm Close Manchester M1 1AE"),
        ("change the delivery address of my order to 3 Avenue Foch, 69006 Lyon", "3 Avenue Foch, 69006 Lyon"),
    ],
)
def test_an_address_is_found_in_a_request_up_to_its_postcode(message: str, address: str) -> None:
    assert address_in(message) == address


def test_an_answer_to_the_address_question_is_the_address_and_no_postcode_is_no_address() -> None:
    assert (
        address_in("Rose Cottage, Lower Street, Bath BA1 2AB", whole=True) == "Rose Cottage, Lower Street, Bath BA1 2AB"
    )
    assert address_in("send it to my mum's house please") is None


def test_an_email_and_an_order_number_are_no_address() -> None:
    assert address_in("dmitri.smith.12680@example.com / 581587") is None
    assert address_in("it's 4 Queen St, Oxford OX1 1ER, my email is jo.5@example.com") == "4 Queen St, Oxford OX1 1ER"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("I want to return the jam jar from my last order, it was chipped", "it was chipped"),
        ("return 2 lunch bags from 580611 because they arrived damaged", "because they arrived damaged"),
        ("can i return the advent calendar from that one then, we got too many", "we got too many"),
        ("i want to return the hand warmers from it, they dont heat up", "they dont heat up"),
        ("the black bord from 580657 is warped, i want a refund", "the black bord from 580657 is warped"),
        ("the camo torch doesnt switch on. how do i return it", "the camo torch doesnt switch on"),
        (
            "Returning the butterfly t-lights please, the colour isn't what I expected",
            "the colour isn't what I expected",
        ),
        ("also the night light from the same order, one of them doesnt light up", "one of them doesnt light up"),
        # what the item has, not the item itself, when the item opens the sentence
        (
            "the regency cakestand in my last order has a chipped plate, i want to return it",
            "has a chipped plate",
        ),
        ("i need to return the black flock doormat from order 576321, it sheds everywhere", "it sheds everywhere"),
        ("the red retrospot cake stands in 578152 arrived with chips", "arrived with chips"),
        ("the chilli lights from my last order have packed in already, could I return them?", "have packed in already"),
    ],
)
def test_a_reason_given_up_front_is_found(message: str, reason: str) -> None:
    assert reason_in(message) == reason


def test_a_request_without_a_reason_has_none_but_any_answer_to_the_question_is_one() -> None:
    assert reason_in("i want to return the teapot from 580611") is None
    assert reason_in("changed my mind", whole=True) == "changed my mind"


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("return the no singing metal signs from my last order, my customer cancelled", "my customer cancelled"),
        ("what about from 577833 then, the vintage union jack bunting, the colours ran", "the colours ran"),
        ("return the mug from 580137, thanks a lot", None),  # politeness is no reason
        ("return the mug, from my last order", None),  # nor which order
        ("i want to return the mug and the spotted one", None),  # nor another item
        ("return the mug. is the refund to my card?", None),  # nor a question
    ],
)
def test_a_later_clause_that_states_something_is_the_reason_of_a_return(message: str, reason: str | None) -> None:
    assert reason_in(message, starts_return=True) == reason


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ("i want to return the fairy lights from 580611 they keep cutting out", "they keep cutting out"),
        ("return the desk lamp from 577092 it buzzes", "it buzzes"),
        ("send back the led candles from 580137 half of them are dead and my son is upset", "half of them are dead"),
        ("return the string lights from 578192 most of the bulbs have gone out", "most of the bulbs have gone out"),
    ],
)
def test_what_is_wrong_said_right_after_the_order_number_is_the_reason(message: str, reason: str) -> None:
    # no comma, no "because": what is wrong runs on after the order number
    assert reason_in(message, starts_return=True) == reason


def test_a_smaller_than_imagined_item_has_a_reason() -> None:
    text = "I'd like to return the hot water bottle from my last order please, it's rather smaller than I'd imagined"
    assert reason_in(text) == "it's rather smaller than I'd imagined"


def test_numbered_requests_are_clauses_and_mine_and_never_arrived_are_heard() -> None:
    assert clauses("hi! 1) where is 580744 2) how many points have i got") == [
        "hi",
        "where is 580744",
        "how many points have i got",
    ]
    assert says_mine("oh hang on thats my sisters order. what about mine") and not says_mine("where is my order")
    assert says_not_received("it says delivered but nothings here")
    assert says_not_received("i never got my parcel") and not says_not_received("it arrived yesterday, thanks")


def test_order_numbers_are_six_digits_not_prices_or_postcodes() -> None:
    assert order_numbers(turn("tracking for 580744 and 580745 pls")) == ["580744", "580745"]
    assert order_numbers(turn("it cost £123456.50 and my postcode is M1 1AE")) == []
    assert order_numbers(turn("#581580", order_number="581580")) == ["581580"]


def test_digits_in_an_email_address_are_not_an_order_number_even_when_the_nlu_tagged_them() -> None:
    said = "my email is jo.123456@example.com and my order is 581502"
    assert order_numbers(turn(said, order_number="123456")) == ["581502"]
    assert order_numbers(turn("it's 581502@example.com", order_number="581502")) == []
    assert order_numbers(turn('/inform{"email":"a.123456@example.com","order_number":"581502"}')) == ["581502"]


def test_emails_last_orders_and_cues() -> None:
    assert email_in(turn("it's Hugo.Moreau.12748@example.com, order 581502")) == "Hugo.Moreau.12748@example.com"
    assert says_latest("whre is my latest oder") and says_latest("my most recent parcel")
    assert not says_latest("where is my order")
    assert is_follow_up("and what about 581473?") and is_follow_up("ok and order 536365")
    assert is_correction("sorry, I meant 581473") and is_correction("no, 581473")
    assert wants_to_stop("never mind") and wants_to_stop("forget it") and not wants_to_stop("stop my order 581580")
    assert asks_for_kind("do you sell christmas lights?") and asks_for_kind("sell hand warmers?")
    assert not asks_for_kind("how much is the red teapot")


def test_a_choice_by_position() -> None:
    assert ordinal_choice("the second one", 3) == 1 and ordinal_choice("2", 3) == 1
    assert ordinal_choice("the last one please", 3) == 2 and ordinal_choice("number 5", 3) is None
    assert ordinal_choice("i'll take the second", 3) == 1 and ordinal_choice("3rd pls", 3) == 2
    assert ordinal_choice("the top one, has it shipped", 3) == 0


def test_first_as_a_word_of_time_picks_nothing() -> None:
    assert ordinal_choice("oh one thing first, do you deliver to ireland?", 5) is None
    assert ordinal_choice("first of all how much is the doormat", 5) is None
    assert ordinal_choice("the handle snapped the first time i used it", 5) is None


def test_whether_an_order_arrived_is_a_question_of_its_status_not_of_when() -> None:
    assert order_question_of("did 580611 arrive? i've been away") == "order_status"
    assert order_question_of("did my parcel ever arrive") == "order_status"
    assert order_question_of("when will it arrive") == "delivery_estimate"
    assert order_question_of("when did it arrive") == "delivery_estimate"


def test_a_product_request_is_named_in_words_or_not() -> None:
    assert names_product_request("similar_products", "anything similar but cheaper?")
    assert not names_product_request("similar_products", "and the tea towels from that range")
    assert names_product_request("bought_together", "what goes well with it")
    assert names_product_request("product_info", "and the tea towels")  # no words of its own to check


def test_comparisons_several_orders_and_greetings() -> None:
    assert compares("which is cheaper, the small or the large") and compares("blue hamper vs the pink one")
    assert compares("does the red one cost more than the blue one") and not compares("how much is the teapot")
    assert means_all_of_them("tracking for both pls") and means_all_of_them("where are all of them")
    assert not means_all_of_them("where is my order")
    assert after_greeting("hello is my order delivered") == "is my order delivered"
    assert after_greeting("Good morning! where's my parcel") == "where's my parcel"
    assert after_greeting("high street address") == "high street address"


def test_keyboard_mashing_is_gibberish_but_chat_shorthand_and_words_are_not() -> None:
    assert is_gibberish("asdfgh") and is_gibberish("jjjj kkk lll") and is_gibberish("sdfsdf!!")
    assert is_gibberish("asdfgh jkl")  # a vowel-less scrap beside mashing
    assert not is_gibberish("thx pls") and not is_gibberish("hmm ok")  # vowel-less chat on its own
    for message in ("thx", "ok ty", "pls", "nvm", "hmm", "lol", "blorf snargle", "strengths", "581580", "xx"):
        assert not is_gibberish(message, frozenset({"strengths"})), message


def test_the_faq_a_clause_names_by_its_words() -> None:
    assert faq_topic("can i pay with amex") == "utter_faq/payment_methods"
    assert faq_topic("how much is shipping to germany") == "utter_faq/shipping_costs"
    assert faq_topic("do I have to pay for postage") == "utter_faq/shipping_costs"
    assert faq_topic("how long does delivery to spain take") == "utter_faq/delivery_times"
    assert faq_topic("what are your opening hours") == "utter_faq/opening_hours"
    assert faq_topic("how many days do I have to send it back") == "utter_faq/return_policy"
    assert faq_topic("do you deliver to scotland") is None  # says no FAQ by itself: the response selector's
    assert faq_topic("how long does delivery take and can I return it") is None  # two: not one clause's answer


@pytest.mark.timeout(120)  # a hang guard, not a speed goal: a quadratic expression takes many minutes here
def test_a_huge_hostile_message_is_read_as_nothing_in_particular() -> None:
    # tests/unit/test_regex_safety.py proves each pattern linear; this runs the readers on 130 KB of it
    hostile = ("a." * 50_000) + ("1" * 20_000) + ("@" * 10_000)
    assert (email_in(turn(hostile)), order_numbers(turn(hostile)), address_in(hostile), reason_in(hostile)) == (
        None, [], None, None
    )  # fmt: skip
    assert not any(
        check(hostile)
        for check in (is_follow_up, is_correction, wants_to_stop, asks_for_kind, compares, means_all_of_them)
    )
    for other in ("how long " * 20_000, "hello " * 20_000, "pay " * 20_000, "bcdfg" * 20_000):
        topic = faq_topic(other)  # "pay pay pay ..." may well be about payment
        assert topic is None or topic.startswith("utter_faq/")
        is_gibberish(other), after_greeting(other), compares(other)


def test_a_corrected_postcode_replaces_the_postcode_of_the_address_just_given() -> None:
    assert with_new_postcode("8 Ashdown Road, Worthing BN11 1XY", "oh no sorry the postcode is bn11 1xz") == (
        "8 Ashdown Road, Worthing BN11 1XZ"
    )
    assert with_new_postcode("8 Ashdown Road, Worthing BN11 1XY", "sorry, wrong one") is None


def test_requests_said_in_passing_are_recognised() -> None:
    assert checks_an_order("i want to check an order, im jo@example.com")
    assert not checks_an_order("i want to check the price of the lamp")
    assert deletes_data("ok thanks and delete it after that") and deletes_data("please erase my details")
    assert says_reorder("what would i normally reorder") and not says_reorder("where is my order")
    assert asks_what_we_have("what have you got for the garden")
    assert in_catalogue_sizes("the big one") == "the large one"


def test_the_thing_a_return_names_is_found_but_not_the_order_or_its_contents_as_a_whole() -> None:
    assert returned_thing("can i return the glasses from my last order, two are chipped") == "glasses"
    assert returned_thing("I'd like to send back the memo board") == "memo board"
    assert returned_thing("i want to return my last order") is None
    assert returned_thing("can i return the items from 577492") is None
    assert returned_thing("can i return them?") is None


def test_a_part_that_keeps_breaking_is_a_reason_for_a_return() -> None:
    assert reason_in("I want to return the crayons from my last order, they keep snapping") == "they keep snapping"
    assert reason_in("return the tin from my last order, the lid keeps breaking") == "the lid keeps breaking"
