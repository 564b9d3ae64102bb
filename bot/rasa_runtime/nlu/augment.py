"""A Rasa 3.6 component that adds training copies of the intent examples: typed carelessly, or about other products.

1. For each intent example (FAQ questions included, with their response key,
   so the response selector learns them too), ``copies`` new examples with
   the same intent are typed out by :class:`bot.rasa_runtime.nlu.noise.Typist` (missing
   apostrophes and capitals, dropped or doubled letters, swapped or
   neighbouring keys).
2. For each example that names a product (a ``product`` entity), ``product_copies``
   new examples name another product of the catalogue instead (phrases of the
   ``product`` patterns in ``product_patterns``, the entity ruler's JSONL file):
   the training data names a few dozen products, customers name thousands,
   and the words around the product are what tell a price question from a
   "what goes with it" question.

Both use a seed, so a training run is reproducible. The copies carry no
entities and are flagged (:data:`bot.rasa_runtime.nlu.spelling.AUGMENTED`, whose value is
the text they were made from), so entity extractors and the spelling
vocabulary ignore them and the classifier calibrates them in the fold of
their original. At run time the component
does nothing.

``bench/nlu_robustness.py`` chose the number of copies on a validation split
of the training data (BENCHMARKS.md).

Use in a Rasa config (first, so the featurizers see the copies)::

    pipeline:
      - name: bot.rasa_runtime.nlu.augment.TypoAugmenter
        copies: 1
        product_patterns: data/catalog_patterns.jsonl
        product_copies: 2
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RESPONSE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_runtime.nlu.noise import Typist
from bot.rasa_runtime.nlu.patterns import PRODUCT, pattern_phrases
from bot.rasa_runtime.nlu.spelling import AUGMENTED

__all__ = ["TypoAugmenter"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class TypoAugmenter(GraphComponent):
    """Adds ``copies`` noisy copies of every intent example to the training data."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config."""
        return {
            "copies": 1,
            "word_typo_rate": 0.12,
            "random_seed": 7,
            "product_patterns": None,
            "product_copies": 2,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = {**self.get_default_config(), **config}
        copies = self.config["copies"]
        if isinstance(copies, bool) or not isinstance(copies, int) or not 0 <= copies <= 10:
            raise InvalidConfigException("TypoAugmenter: `copies` must be a whole number from 0 to 10")
        swaps = self.config["product_copies"]
        if isinstance(swaps, bool) or not isinstance(swaps, int) or not 0 <= swaps <= 10:
            raise InvalidConfigException("TypoAugmenter: `product_copies` must be a whole number from 0 to 10")
        rate = self.config["word_typo_rate"]
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
            raise InvalidConfigException("TypoAugmenter: `word_typo_rate` must be between 0 and 1")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TypoAugmenter:
        """Creates the component (there is nothing to train)."""
        return cls(config)

    def _product_phrases(self) -> list[str]:
        path = self.config["product_patterns"]
        if not path:
            return []
        if not Path(path).exists():
            raise InvalidConfigException(f"TypoAugmenter: product_patterns file {path} does not exist")
        return sorted(set(pattern_phrases(path, label=PRODUCT, token_patterns=False)))

    def _product_swaps(self, training_data: TrainingData, rng: random.Random) -> list[Message]:
        phrases = self._product_phrases()
        copies: list[Message] = []
        if not phrases:
            return copies
        for example in training_data.intent_examples:
            text, intent = example.get(TEXT), example.get(INTENT)
            spans = [e for e in example.get(ENTITIES) or [] if e.get("entity") == "product"]
            if not text or not intent or example.get(INTENT_RESPONSE_KEY) or not spans:
                continue
            spans.sort(key=lambda e: e["start"])
            for _ in range(self.config["product_copies"]):
                out, at = [], 0
                for e in spans:
                    out += [text[at : e["start"]], rng.choice(phrases)]
                    at = e["end"]
                out.append(text[at:])
                copies.append(Message(data={TEXT: "".join(out), INTENT: intent, AUGMENTED: text}))
        return copies

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """The training data with the copies added."""
        rng = random.Random(self.config["random_seed"])
        copies: list[Message] = self._product_swaps(training_data, rng)
        if not self.config["copies"]:
            return training_data.merge(TrainingData(training_examples=copies)) if copies else training_data
        typist = Typist(random.Random(self.config["random_seed"]), word_typo_rate=float(self.config["word_typo_rate"]))
        for example in training_data.intent_examples:
            text, intent = example.get(TEXT), example.get(INTENT)
            if not text or not intent:
                continue
            seen = {text}
            for _ in range(self.config["copies"]):
                noisy = typist.type_out(text)
                if noisy in seen:
                    continue
                seen.add(noisy)
                data = {TEXT: noisy, INTENT: intent, AUGMENTED: text}
                if example.get(INTENT_RESPONSE_KEY):  # an FAQ: the response selector learns the typed copy too
                    data[INTENT_RESPONSE_KEY] = example.get(INTENT_RESPONSE_KEY)
                copies.append(Message(data=data))
        if not copies:
            return training_data
        return training_data.merge(TrainingData(training_examples=copies))

    def process(self, messages: list[Message]) -> list[Message]:
        """Nothing to do at run time."""
        return messages
