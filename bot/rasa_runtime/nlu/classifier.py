"""The assistant's intent classifier: the Rasa graph component around the linear intent model.

The model (TF-IDF word and character n-grams plus the sentence embedding of a
dense featurizer, a one-vs-rest linear SVM, confidences calibrated with a
"none of them" score) is :mod:`bot.rasa_runtime.nlu.intent_model`; this
component feeds it Rasa's messages, scores each clause of a message that holds
several, and stores it with the trained Rasa model.

Retrieval intents keep their base name (``faq`` for a ``faq/shipping_costs``
example), as Rasa's other classifiers do; the response selector picks the
sub-intent. An intent with a single example still gets a column of its own.

Use in a Rasa config::

    pipeline:
      - name: WhitespaceTokenizer
      - name: bot.rasa_runtime.nlu.minilm.MiniLMFeaturizer
      - name: bot.rasa_runtime.nlu.classifier.LinearIntentClassifier
      - name: FallbackClassifier
        threshold: 0.5
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_runtime.nlu.intent_model import LinearIntentModel
from bot.rasa_runtime.nlu.minilm import CLAUSE_VECTORS
from bot.rasa_runtime.nlu.spelling import AUGMENTED, classification_text

logger = logging.getLogger(__name__)

__all__ = ["SECONDARY_INTENTS_KEY", "LinearIntentClassifier"]

#: where the confident intents of a message's other clauses go in its parse data
SECONDARY_INTENTS_KEY = "secondary_intents"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LinearIntentClassifier(IntentClassifier, GraphComponent):
    """Rasa intent classifier around :class:`LinearIntentModel`.

    Sets ``intent`` (``name``, ``confidence``) and ``intent_ranking`` (the
    ``ranking_length`` most likely intents, best first; 0 keeps all).

    Configuration: ``featurizers`` (the dense featurizers, by name or alias,
    whose sentence features are used; empty: all of them), ``ranking_length``,
    and :class:`LinearIntentModel`'s parameters ``word_ngram_range``,
    ``char_ngram_range``, ``dense_weight``, ``C``, ``class_weight``,
    ``none_quantile``, ``calibration_folds``, ``random_state``, ``max_iter``. The defaults were
    chosen on a validation split of Banking77's training set (see
    ``bench/banking77.py``).
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config."""
        return {
            "featurizers": [],
            "ranking_length": 10,
            "word_ngram_range": [1, 2],
            "char_ngram_range": [1, 4],
            "dense_weight": 1.5,
            "C": 1.0,
            "class_weight": None,
            "none_quantile": 0.1,
            "calibration_folds": 3,
            "random_state": 42,
            "max_iter": 5000,
            "clause_threshold": 0.6,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Python packages the component needs."""
        return ["sklearn", "scipy", "numpy"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Optional[LinearIntentModel] = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._validate_config(self.config)
        self._model_storage = model_storage
        self._resource = resource
        self.model = model

    @staticmethod
    def _validate_config(config: dict[str, Any]) -> None:
        for key in ("word_ngram_range", "char_ngram_range"):
            value = config[key]
            if not (isinstance(value, (list, tuple)) and len(value) == 2 and 1 <= value[0] <= value[1]):
                raise InvalidConfigException(f"LinearIntentClassifier: `{key}` must be [min, max], got {value!r}")
        if config["class_weight"] not in (None, "balanced"):
            raise InvalidConfigException("LinearIntentClassifier: `class_weight` must be null or 'balanced'")
        if not isinstance(config["ranking_length"], int) or config["ranking_length"] < 0:
            raise InvalidConfigException("LinearIntentClassifier: `ranking_length` must be a whole number >= 0")
        if config["calibration_folds"] < 2:
            raise InvalidConfigException("LinearIntentClassifier: `calibration_folds` must be at least 2")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LinearIntentClassifier:
        """Creates an untrained component."""
        return cls(config, model_storage, resource)

    def _new_model(self) -> LinearIntentModel:
        c = self.config
        return LinearIntentModel(
            word_ngram_range=tuple(c["word_ngram_range"]),
            char_ngram_range=tuple(c["char_ngram_range"]),
            dense_weight=float(c["dense_weight"]),
            C=float(c["C"]),
            class_weight=c["class_weight"],
            none_quantile=float(c["none_quantile"]),
            calibration_folds=int(c["calibration_folds"]),
            random_state=int(c["random_state"]),
            max_iter=int(c["max_iter"]),
        )

    def _dense(self, messages: Sequence[Message]) -> Optional[np.ndarray]:
        rows = []
        for message in messages:
            _, sentence = message.get_dense_features(TEXT, self.config["featurizers"] or None)
            rows.append(None if sentence is None else np.asarray(sentence.features, dtype=np.float64).reshape(-1))
        if all(r is None for r in rows):
            return None
        width = max(len(r) for r in rows if r is not None)
        return np.vstack([np.zeros(width) if r is None else r for r in rows])

    def train(self, training_data: TrainingData) -> Resource:
        """Fits the model on the examples that have an intent and a text, and stores it."""
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        if not examples:
            logger.debug("LinearIntentClassifier: no intent examples, nothing to train.")
            return self._resource
        texts = [classification_text(e) for e in examples]
        labels = [e.get(INTENT) for e in examples]
        # a training copy (bot.rasa_runtime.nlu.augment) stays in the calibration fold of the example it was made from
        groups = [str(e.get(AUGMENTED) if isinstance(e.get(AUGMENTED), str) else e.get(TEXT)) for e in examples]
        self.model = self._new_model().fit(texts, self._dense(examples), labels, groups)
        with self._model_storage.write_to(self._resource) as directory:
            self.model.save(Path(directory))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LinearIntentClassifier:
        """Loads the trained model (an untrained component if training stored none)."""
        try:
            with model_storage.read_from(resource) as directory:
                model = LinearIntentModel.load(Path(directory))
        except (ValueError, FileNotFoundError):
            logger.debug(f"LinearIntentClassifier: no trained model in resource '{resource.name}'.")
            model = None
        return cls(config, model_storage, resource, model)

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets ``intent`` and ``intent_ranking`` on each message."""
        if self.model is None or not messages:
            return messages
        texts = [classification_text(m) for m in messages]
        dense = self._dense(messages)
        if dense is None and self.model.n_dense_:
            # e.g. an empty message, which the dense featurizer skips
            dense = np.zeros((len(messages), self.model.n_dense_))
        probs = self.model.predict_proba(texts, dense)
        classes = self.model.classes_
        limit = self.config["ranking_length"] or len(classes)
        for message, row in zip(messages, probs):
            order = np.argsort(-row, kind="stable")[:limit]
            ranking = [{"name": str(classes[i]), "confidence": float(row[i])} for i in order]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            message.set(SECONDARY_INTENTS_KEY, self._clause_intents(message), add_to_output=True)
        return messages

    def _clause_intents(self, message: Message) -> list[dict[str, Any]]:
        """The confident intents of a message's clauses, best first.

        The main intent is among them when a clause states it more clearly
        than the whole message does ("helo i ordred a teapot last wek and it
        hasnt come": the whole is unsure, "it hasn't come" is not), so a message
        the fallback rejects can still be understood from its clearest clause.
        """
        threshold = self.config["clause_threshold"]
        found = message.get(CLAUSE_VECTORS)
        if not found or not threshold or self.model is None:
            return []
        texts = [text for text, _ in found]
        probs = self.model.predict_proba(texts, np.vstack([vector for _, vector in found]))
        best: dict[str, dict[str, Any]] = {}
        for text, row in zip(texts, probs):
            i = int(np.argmax(row))
            name, confidence = str(self.model.classes_[i]), float(row[i])
            if confidence >= threshold and confidence > best.get(name, {}).get("confidence", 0.0):
                best[name] = {"name": name, "confidence": confidence, "text": text}
        return sorted(best.values(), key=lambda b: -b["confidence"])
