"""What the NLU does to a message before classifying it: spelling, clauses; and the typing noise it trains on."""

from __future__ import annotations

import random

import pytest

from bot.rasa_runtime.nlu.clauses import clauses
from bot.rasa_runtime.nlu.noise import Typist
from bot.rasa_runtime.nlu.normalise import Normaliser, SourceMap

TRAINING = [
    "where is my order",
    "it hasn't arrived yet",
    "when will it arrive",
    "please cancel my order",
    "I received the wrong item",
    "hello there",
    "how much is the teapot",
]


@pytest.fixture(scope="module")
def normaliser() -> Normaliser:
    return Normaliser.from_texts(TRAINING, extra_words=["retrospot", "cakestand"], common_words=15000)


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("whre is my oder 580690", "where is my order 580690"),
        ("it hasnt arived", "it hasn't arrived"),
        ("pls cancel my ordr asap thx", "please cancel my order asap thanks"),
        ("i recieved the wrong iten", "i received the wrong item"),
        ("how much is the teapto", "how much is the teapot"),
    ],
)
def test_typos_chat_shorthand_and_missing_apostrophes_are_read_as_the_known_words(
    normaliser: Normaliser, typed: str, read: str
) -> None:
    assert normaliser.normalise(typed) == read


def test_catalogue_words_common_english_and_anything_with_digits_or_at_signs_are_left_alone(
    normaliser: Normaliser,
) -> None:
    assert normaliser.normalise("red retrospot cakestand") == "red retrospot cakestand"
    assert normaliser.normalise("my parcel to London") == "my parcel to london"
    text = "Hugo.Moreau.12748@example.com SW1A 2AA 85123a"
    assert normaliser.normalise(text) == text


def test_a_long_message_maps_back_the_same_as_a_piece_by_piece_scan(normaliser: Normaliser) -> None:
    typed = " ".join(
        random.Random(3).choice(["whre", "is", "my", "oder", "a.a.a.", "580690", "teapto"]) for _ in range(3000)
    )
    normalised, spans = normaliser.normalise_with_spans(typed)
    located = SourceMap(spans)

    def scan(start: int, end: int) -> tuple[int, int]:  # the definition, one piece at a time
        touched = [s for s in spans if s.start < max(end, start + 1) and s.end > start]
        if not touched:
            return start, end
        first, last = touched[0], touched[-1]
        return first.source(max(start, first.start), min(end, first.end))[0], last.source(
            max(start, last.start), min(end, last.end)
        )[1]

    probes = random.Random(4).sample(range(len(normalised)), 300)
    assert all(located(p, p + n) == scan(p, p + n) for p in probes for n in (0, 1, 5, 40))


def test_spans_put_the_normalised_text_back_on_the_original(normaliser: Normaliser) -> None:
    typed = "whre is my oder 580690"
    normalised, spans = normaliser.normalise_with_spans(typed)
    start = normalised.index("order")
    located = SourceMap(spans)
    assert typed[slice(*located(start, start + len("order")))] == "oder"
    start = normalised.index("580690")
    assert typed[slice(*located(start, start + 6))] == "580690"


def test_a_normaliser_survives_being_stored(normaliser: Normaliser) -> None:
    again = Normaliser.from_dict(normaliser.to_dict())
    assert again.normalise("whre is my oder") == normaliser.normalise("whre is my oder")


def test_messages_split_into_their_requests() -> None:
    assert clauses("whats my points and any offers?") == ["whats my points", "any offers"]
    assert clauses("my email is a.b@c.com and my order is 581502, where is it?") == [
        "my email is a.b@c.com",
        "my order is 581502",
        "where is it",
    ]
    assert clauses("hi") == ["hi"] and clauses("") == []
    assert len(clauses("and " * 5000)) <= 4


def test_typing_noise_keeps_numbers_emails_and_prices_and_is_reproducible() -> None:
    text = "Where's my order 536365? It hasn't arrived, my email is jane.doe@example.com and it cost £12.50."
    first = [Typist(random.Random(3), word_typo_rate=0.5).type_out(text) for _ in range(3)]
    again = [Typist(random.Random(3), word_typo_rate=0.5).type_out(text) for _ in range(3)]
    assert first == again
    for noisy in first:
        assert "536365" in noisy and "jane.doe@example.com" in noisy and "£12.50" in noisy
    assert any(noisy != text for noisy in first)


def test_a_typo_is_one_edit() -> None:
    typist = Typist(random.Random(1))
    for _ in range(200):
        word = typist.typo("delivery")
        assert abs(len(word) - len("delivery")) <= 1 and word != "" and word[0] == "d"
