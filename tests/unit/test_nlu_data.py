"""The assistant's NLU training data (data/nlu/) and its held-out test set.

What a customer would notice if these failed: an intent the bot cannot
recognise for lack of examples, one phrase taught as two intents, a product
the extractor finds but the data never marked (or marks where the extractor
finds nothing), a FAQ answer that contradicts the shop's own rules.

Entities that no model learns (all seven: order numbers, e-mails, amounts,
quantities and dates by Rasa's RegexEntityExtractor with the expressions in
data/nlu/regexes.yml, products and categories by the spaCy entity ruler built
from data/catalog_patterns.jsonl) must be annotated exactly where those
extractors find them, no more and no less. The held-out set is annotated by
hand instead, and the extractors must reach entity F1 >= 0.90 on it.

Main environment only (no Rasa, no spaCy): YAML is read with ruamel.yaml; one
test runs the real spaCy pipeline in .venv-rasa and is skipped without it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from analytics.forecast.delivery import ZONES
from analytics.ingest.categories import OTHER, category_names
from bot.ops.catalog_patterns import PhraseRuler, read_patterns, synonyms_yaml

ROOT = Path(__file__).resolve().parents[2]
NLU_DIR = ROOT / "data" / "nlu"
HOLDOUT = ROOT / "tests" / "data" / "nlu_holdout.yml"
PATTERNS = ROOT / "data" / "catalog_patterns.jsonl"
RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"

INTENTS = (
    "greet",
    "goodbye",
    "thank",
    "affirm",
    "deny",
    "bot_challenge",
    "out_of_scope",
    "help",
    "identify",
    "inform",
    "order_status",
    "track_order",
    "delivery_estimate",
    "cancel_order",
    "return_request",
    "change_address",
    "list_orders",
    "recommend_products",
    "similar_products",
    "bought_together",
    "product_info",
    "loyalty_status",
    "ask_offers",
    "accept_offer",
    "reorder_when",
    "next_order_due",
    "privacy_data",
    "delete_data",
    "human_handoff",
    "complain",
)
FAQS = ("shipping_costs", "opening_hours", "payment_methods", "return_policy", "delivery_times")
ALL_INTENTS = (*INTENTS, *(f"faq/{name}" for name in FAQS))
ENTITIES = ("order_number", "email", "product", "category", "amount", "quantity", "date")
REGEX_ENTITIES = ("order_number", "email", "amount", "quantity", "date")
RULER_ENTITIES = ("product", "category")

#: Fewest training examples per intent: more where the intent carries entities in many shapes.
MIN_EXAMPLES = {"inform": 100, "identify": 50, **{f"faq/{name}": 30 for name in FAQS}}
DEFAULT_MIN_EXAMPLES = 40
MIN_HOLDOUT_EXAMPLES = 8

_ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\](?:\((?P<entity>[^)]+)\)|\{(?P<json>[^}]+)\})")


@dataclass(frozen=True)
class Entity:
    start: int
    end: int
    entity: str


@dataclass(frozen=True)
class Example:
    intent: str
    text: str
    entities: tuple[Entity, ...]
    source: str

    @property
    def key(self) -> str:
        """The text as a classifier sees it: case, spacing and end punctuation do not make a new example."""
        return " ".join(re.sub(r"[^\w@£'/-]+", " ", self.text.lower()).split())


def parse_example(line: str, intent: str, source: str) -> Example:
    """Rasa's inline annotation, ``[text](entity)`` or ``[text]{"entity": ...}``, to text and spans."""
    text, entities, cursor = [], [], 0
    length = 0
    for m in _ANNOTATION.finditer(line):
        text.append(line[cursor : m.start()])
        length += m.start() - cursor
        name = m.group("entity") if m.group("entity") else json.loads("{" + m.group("json") + "}")["entity"]
        entities.append(Entity(length, length + len(m.group("text")), name.split(":")[0]))
        text.append(m.group("text"))
        length += len(m.group("text"))
        cursor = m.end()
    text.append(line[cursor:])
    return Example(intent, "".join(text), tuple(entities), source)


def _yaml(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _examples_of(path: Path) -> list[Example]:
    examples = []
    for block in _yaml(path).get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block["examples"]).splitlines():
            line = line.strip()
            if line:
                assert line.startswith("- "), f"{path.name}, intent {block['intent']}: {line!r} is not a list item"
                examples.append(parse_example(line[2:].strip(), block["intent"], path.name))
    return examples


@cache
def training() -> tuple[Example, ...]:
    return tuple(e for path in sorted(NLU_DIR.glob("*.yml")) for e in _examples_of(path))


@cache
def holdout() -> tuple[Example, ...]:
    return tuple(_examples_of(HOLDOUT))


@cache
def regexes() -> dict[str, list[re.Pattern[str]]]:
    """The entity regexes of the training data, compiled as RegexEntityExtractor does (case-insensitive)."""
    found: dict[str, list[re.Pattern[str]]] = defaultdict(list)
    for path in sorted(NLU_DIR.glob("*.yml")):
        for block in _yaml(path).get("nlu") or []:
            if "regex" in block:
                for line in str(block["examples"]).splitlines():
                    if line.strip():
                        found[block["regex"]].append(re.compile(line.strip()[2:], re.IGNORECASE))
    return dict(found)


@cache
def ruler() -> PhraseRuler:
    return PhraseRuler(read_patterns(PATTERNS))


def regex_entities(text: str) -> set[Entity]:
    return {
        Entity(m.start(), m.end(), name)
        for name, patterns in regexes().items()
        for pattern in patterns
        for m in pattern.finditer(text)
    }


def ruler_entities(text: str) -> set[Entity]:
    return {Entity(m.start, m.end, m.label) for m in ruler().find(text)}


def _show(text: str, entities: set[Entity]) -> list[str]:
    return sorted(f"{text[e.start : e.end]!r}:{e.entity}" for e in entities)


# --------------------------------------------------------------------------- intents and examples


@pytest.mark.parametrize("intent", ALL_INTENTS)
def test_every_intent_has_enough_training_examples(intent: str) -> None:
    count = sum(e.intent == intent for e in training())
    assert count >= MIN_EXAMPLES.get(intent, DEFAULT_MIN_EXAMPLES)


def test_the_training_data_teaches_exactly_the_agreed_intents() -> None:
    assert {e.intent for e in training()} == set(ALL_INTENTS)


def test_no_example_is_taught_twice() -> None:
    seen: dict[str, Example] = {}
    clashes = []
    for example in training():
        first = seen.setdefault(example.key, example)
        if first is not example:
            clashes.append(f"{example.text!r}: {first.intent} ({first.source}) and {example.intent} ({example.source})")
    assert clashes == []


def test_held_out_examples_are_not_in_the_training_data() -> None:
    taught = {e.key: e for e in training()}
    leaked = [f"{e.text!r} ({e.intent})" for e in holdout() if e.key in taught]
    assert leaked == []


def test_held_out_examples_are_not_repeated() -> None:
    counts = Counter(e.key for e in holdout())
    assert [key for key, n in counts.items() if n > 1] == []


@pytest.mark.parametrize("intent", ALL_INTENTS)
def test_every_intent_is_in_the_held_out_set(intent: str) -> None:
    assert sum(e.intent == intent for e in holdout()) >= MIN_HOLDOUT_EXAMPLES


def test_the_held_out_set_has_only_trained_intents() -> None:
    assert {e.intent for e in holdout()} <= set(ALL_INTENTS)


# --------------------------------------------------------------------------- entities


@pytest.mark.parametrize("which", ["training", "holdout"])
def test_only_the_seven_entities_are_annotated(which: str) -> None:
    examples = training() if which == "training" else holdout()
    assert {ent.entity for e in examples for ent in e.entities} <= set(ENTITIES)


@pytest.mark.parametrize("which", ["training", "holdout"])
def test_annotations_are_tight_spans(which: str) -> None:
    examples = training() if which == "training" else holdout()
    loose = [
        f"{e.text!r}: {e.text[ent.start : ent.end]!r}"
        for e in examples
        for ent in e.entities
        if e.text[ent.start : ent.end] != e.text[ent.start : ent.end].strip(" ,.?!") or ent.start == ent.end
    ]
    assert loose == []


def test_every_entity_appears_in_the_training_data() -> None:
    # RegexEntityExtractor only uses the expressions of entities that the data annotates
    assert {ent.entity for e in training() for ent in e.entities} == set(ENTITIES)


def test_every_entity_has_an_expression_or_a_pattern() -> None:
    assert set(regexes()) == set(REGEX_ENTITIES)
    assert {p.label for p in read_patterns(PATTERNS)} == set(RULER_ENTITIES)


def test_products_and_categories_are_annotated_exactly_where_the_ruler_finds_them() -> None:
    wrong = []
    for e in training():
        marked = {ent for ent in e.entities if ent.entity in RULER_ENTITIES}
        found = ruler_entities(e.text)
        if marked != found:
            wrong.append(f"{e.intent}: {e.text!r} marks {_show(e.text, marked)}, ruler finds {_show(e.text, found)}")
    assert wrong == []


def test_regex_entities_are_annotated_exactly_where_the_expressions_match() -> None:
    wrong = []
    for e in training():
        marked = {ent for ent in e.entities if ent.entity in REGEX_ENTITIES}
        found = regex_entities(e.text)
        if marked != found:
            wrong.append(f"{e.intent}: {e.text!r} marks {_show(e.text, marked)}, regexes find {_show(e.text, found)}")
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a gift under £20", ["'£20':amount"]),
        ("something under 15 please", ["'15':amount"]),
        ("no more than 20 pounds", ["'20 pounds':amount"]),
        ("2 of them", ["'2':quantity"]),
        ("I want to return 3 mugs", ["'3':quantity"]),
        ("I ordered it on 5 December", ["'5 December':date"]),
        ("placed last Tuesday", ["'last Tuesday':date"]),
        ("I ordered 2 weeks ago", ["'2 weeks ago':date"]),
        ("where is my order 536365?", ["'536365':order_number"]),
        ("my email is jane@example.com.", ["'jane@example.com':email"]),
        ("we answer 24/7", []),
        ("get 10% off", []),
    ],
)
def test_the_entity_expressions_read_money_counts_and_dates_as_customers_write_them(
    text: str, expected: list[str]
) -> None:
    assert _show(text, regex_entities(text)) == sorted(expected)


def _f1(gold: list[set[tuple[int, int, str]]], predicted: list[set[tuple[int, int, str]]]) -> float:
    tp = sum(len(g & p) for g, p in zip(gold, predicted))
    fp = sum(len(p - g) for g, p in zip(gold, predicted))
    fn = sum(len(g - p) for g, p in zip(gold, predicted))
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def held_out_entity_f1() -> float:
    """Exact-span micro F1 of the rule-based extractors against the hand-made held-out annotations."""
    gold = [{(x.start, x.end, x.entity) for x in e.entities} for e in holdout()]
    predicted = [
        {(x.start, x.end, x.entity) for x in regex_entities(e.text) | ruler_entities(e.text)} for e in holdout()
    ]
    return _f1(gold, predicted)


def test_the_extractors_reach_entity_f1_of_090_on_the_held_out_set() -> None:
    assert held_out_entity_f1() >= 0.90


def test_the_held_out_set_has_entities_of_every_kind() -> None:
    counts = Counter(ent.entity for e in holdout() for ent in e.entities)
    assert all(counts[name] >= 5 for name in ENTITIES), counts


# --------------------------------------------------------------------------- synonyms and the real pipeline


def test_synonyms_give_actions_the_pattern_ids() -> None:
    expected = synonyms_yaml(read_patterns(PATTERNS))
    assert (NLU_DIR / "synonyms.yml").read_text(encoding="utf-8") == expected, (
        "data/nlu/synonyms.yml is out of date: run `python -m bot.ops.catalog_patterns data/catalog_patterns.jsonl "
        "data/nlu/synonyms.yml`"
    )


def test_category_values_are_the_shops_category_names() -> None:
    assert {p.id for p in read_patterns(PATTERNS) if p.label == "category"} == set(category_names()) - {OTHER}


_SPACY_SCRIPT = """
import json, sys
from bot.rasa_runtime.nlu.build_spacy import build_pipeline
from bot.rasa_runtime.nlu.patterns import read_patterns
nlp = build_pipeline(read_patterns(sys.argv[1]))
texts = json.load(sys.stdin)
# Rasa's SpacyNLP lower-cases the text before spaCy sees it (case_sensitive: false)
out = [[[e.start_char, e.end_char, e.label_] for e in doc.ents] for doc in nlp.pipe(t.lower() for t in texts)]
json.dump(out, sys.stdout)
"""


@pytest.mark.slow
@pytest.mark.skipif(not RASA_PYTHON.exists(), reason="needs .venv-rasa (spaCy 3.4): create it with `make env`")
def test_the_real_spacy_pipeline_finds_what_the_data_marks() -> None:
    examples = [*training(), *holdout()]
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", _SPACY_SCRIPT, str(PATTERNS)],
        input=json.dumps([e.text for e in examples]),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout)
    disagree = [
        f"{e.text!r}: spaCy {sorted(map(tuple, ents))}, ruler {sorted((m.start, m.end, m.label) for m in ruler().find(e.text))}"
        for e, ents in zip(examples, found)
        if {tuple(x) for x in ents} != {(m.start, m.end, m.label) for m in ruler().find(e.text)}
    ]
    assert disagree == []


# --------------------------------------------------------------------------- FAQ answers


@cache
def faq_responses() -> dict[str, str]:
    responses = _yaml(NLU_DIR / "faq.yml").get("responses") or {}
    return {name: " ".join(r["text"] for r in variants) for name, variants in responses.items()}


@pytest.mark.parametrize("name", FAQS)
def test_every_faq_has_an_answer(name: str) -> None:
    assert faq_responses().get(f"utter_faq/{name}", "").strip()


def test_the_delivery_answers_quote_the_shipping_rules() -> None:
    times, costs = faq_responses()["utter_faq/delivery_times"], faq_responses()["utter_faq/shipping_costs"]
    for carriers, low, high in ZONES.values():
        assert f"{low}–{high} days" in times
        assert f"{low}–{high} days" in costs
        assert all(carrier in costs for carrier in carriers)


def test_the_opening_hours_answer_gives_the_agents_hours() -> None:
    answer = faq_responses()["utter_faq/opening_hours"]
    assert "24/7" in answer and "9:00" in answer and "17:30" in answer


def test_the_return_policy_gives_30_days() -> None:
    assert "30 days" in faq_responses()["utter_faq/return_policy"]


def test_the_payment_answer_names_every_method() -> None:
    answer = faq_responses()["utter_faq/payment_methods"]
    assert all(word in answer for word in ("Visa", "Mastercard", "Amex", "PayPal", "bank transfer"))
