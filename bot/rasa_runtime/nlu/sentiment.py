"""Strongly negative messages, marked for the dialogue: a Rasa 3.6 component around VADER.

A customer who writes "You lot are useless. Where is my order?!" should be
offered a person. This component scores each message with VADER (Hutto &
Gilbert 2014, the ``vaderSentiment`` package) and, when the compound score is
at or below ``threshold``, adds the entity ``sentiment`` with the value
``negative`` (spanning the whole message). A slot filled from that entity lets
the dialogue rules react. Every message also gets the four VADER scores under
``sentiment`` in the parse data, so the tracker store keeps them for triage.

Why VADER: it is a published, documented lexicon-and-rules model built for
short informal text (reviews, social media), so it reads capitals ("NOT
HAPPY"), exclamation marks, intensifiers ("absolutely"), negation ("not
bad") and emoji; it has no training data to maintain, takes well under a
millisecond a message and behaves the same in both environments (pure Python,
MIT licence).

Its limits, measured on ``tests/data/sentiment_labelled.csv`` with
``bench/sentiment_eval.py`` (see BENCHMARKS.md): it misses sarcasm ("Great,
another delay. Just brilliant." scores positive), anger without a sentiment
word ("Never again.", "Is anyone actually reading this??"), and British
words missing from its lexicon ("rubbish", "shambles"); and it flags calm
messages with a dark word in them ("Can I still cancel? I ordered the wrong
colour.", "the killer whale soft toy"). It scores words, not the customer's
situation. So the threshold is strict (chosen for precision on the
development split), and a person is also reachable by asking, by complaining
and after two misunderstandings.

Use in a Rasa config (after the tokenizer; it needs only the text)::

    pipeline:
      - name: bot.rasa_runtime.nlu.sentiment.VaderSentimentExtractor
        threshold: -0.4
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

logger = logging.getLogger(__name__)

__all__ = ["SCORES_KEY", "VaderSentimentExtractor"]

#: where the VADER scores of a message go in its parse data
SCORES_KEY = "sentiment"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class VaderSentimentExtractor(EntityExtractorMixin, GraphComponent):
    """Adds ``{"entity": "sentiment", "value": "negative"}`` to strongly negative messages.

    Parameters
    ----------
    config
        ``threshold``: a message is negative when VADER's compound score (-1 to
        +1) is at or below it; the default, -0.4, is the one
        ``bench/sentiment_eval.py`` chooses on the development split.
        ``entity`` and ``value``: the name and value of the entity added.

    Examples
    --------
    In the Rasa environment::

        >>> extractor = VaderSentimentExtractor.create({}, None, None, None)
        >>> [message] = extractor.process([Message(data={"text": "This is a disgrace, I'm furious!"})])
        >>> [(e["entity"], e["value"]) for e in message.get("entities")]
        [('sentiment', 'negative')]
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config."""
        return {"threshold": -0.4, "entity": "sentiment", "value": "negative"}

    @staticmethod
    def required_packages() -> list[str]:
        """Python packages the component needs."""
        return ["vaderSentiment"]

    def __init__(self, config: dict[str, Any]) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.config = {**self.get_default_config(), **config}
        threshold = self.config["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1 <= threshold <= 1:
            raise InvalidConfigException(
                f"VaderSentimentExtractor: `threshold` must be a number from -1 to 1, got {threshold!r}"
            )
        for key in ("entity", "value"):
            if not isinstance(self.config[key], str) or not self.config[key]:
                raise InvalidConfigException(f"VaderSentimentExtractor: `{key}` must be a non-empty string")
        # reads VADER's lexicon (about 7,500 entries) once per loaded model
        self._analyzer = SentimentIntensityAnalyzer()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> VaderSentimentExtractor:
        """Creates the component (there is nothing to train)."""
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Leaves training data alone: no other component learns from this entity."""
        return training_data

    def scores(self, text: str) -> dict[str, float]:
        """VADER's ``neg``, ``neu``, ``pos`` and ``compound`` scores of a text."""
        return {key: float(value) for key, value in self._analyzer.polarity_scores(text).items()}

    def process(self, messages: list[Message]) -> list[Message]:
        """Scores each message and adds the entity to the strongly negative ones."""
        for message in messages:
            text = message.get(TEXT)
            if not text or not text.strip():
                continue
            scores = self.scores(text)
            message.set(SCORES_KEY, scores, add_to_output=True)
            if scores["compound"] > self.config["threshold"]:
                continue
            entity = {
                "entity": self.config["entity"],
                "value": self.config["value"],
                "start": 0,
                "end": len(text),
            }
            entities = [*message.get(ENTITIES, []), *self.add_extractor_name([entity])]
            message.set(ENTITIES, entities, add_to_output=True)
        return messages
