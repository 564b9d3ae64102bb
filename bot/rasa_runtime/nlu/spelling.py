"""A Rasa 3.6 component that gives each message a spelling-normalised copy for intent classification.

It learns its vocabulary from the training examples (and, optionally, the
catalogue's entity patterns, so product words such as "retrospot" or
"cakestand" are known and are never "corrected"), then sets the attribute
``text_normalised`` on every message (:class:`bot.rasa_runtime.nlu.normalise.Normaliser`).
:class:`bot.rasa_runtime.nlu.minilm.MiniLMFeaturizer` and
:class:`bot.rasa_runtime.nlu.classifier.LinearIntentClassifier` read that attribute when
it is there; tokenizers and entity extractors keep reading the text as typed,
so an e-mail address, a street name or a product code is never altered. The
normalised text is also put in the parse data, so the action server and
triage can see what the classifier read.

Training copies made by :class:`bot.rasa_runtime.nlu.augment.TypoAugmenter` carry a flag
and are left out of the vocabulary: their typos must not become known words.

Use in a Rasa config (before the featurizers)::

    pipeline:
      - name: bot.rasa_runtime.nlu.spelling.SpellingNormaliser
        vocabulary_files: [data/catalog_patterns.jsonl]
        common_words: 15000
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_runtime.nlu.normalise import Normaliser, SourceMap, Span
from bot.rasa_runtime.nlu.patterns import pattern_phrases

logger = logging.getLogger(__name__)

__all__ = ["AUGMENTED", "NORMALISED_TEXT", "SpellingNormaliser", "classification_text", "source_offsets"]

#: the message attribute holding the normalised text
NORMALISED_TEXT = "text_normalised"
#: where the pieces of the normalised text come from in the text ([start, end, source_start, source_end, same])
NORMALISED_SPANS = "text_normalised_spans"
#: set on training copies made by the augmenter
AUGMENTED = "augmented_copy"


def classification_text(message: Message) -> str:
    """What intent features are computed from: the normalised text when there is one."""
    return message.get(NORMALISED_TEXT) or message.get(TEXT) or ""


def source_offsets(message: Message) -> Callable[[int, int], tuple[int, int]]:
    """Maps ``start:end`` of :func:`classification_text` to where it lies in the message's text."""
    spans = message.get(NORMALISED_SPANS)
    if not spans or not message.get(NORMALISED_TEXT):
        return lambda start, end: (start, end)
    return SourceMap([Span(*s) for s in spans])


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SpellingNormaliser(GraphComponent):
    """Sets ``text_normalised`` on messages; see the module docstring."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config."""
        return {"vocabulary_files": [], "common_words": 15000}

    @staticmethod
    def required_packages() -> list[str]:
        """Python packages the component needs."""
        return ["symspellpy"]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        normaliser: Optional[Normaliser] = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        files = self.config["vocabulary_files"]
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
            raise InvalidConfigException("SpellingNormaliser: `vocabulary_files` must be a list of file paths")
        common = self.config["common_words"]
        if isinstance(common, bool) or not isinstance(common, int) or common < 0:
            raise InvalidConfigException("SpellingNormaliser: `common_words` must be a whole number >= 0")
        self._model_storage = model_storage
        self._resource = resource
        self.normaliser = normaliser

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SpellingNormaliser:
        """Creates an untrained component."""
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Builds the vocabulary from the training examples as written and the vocabulary files."""
        texts = [m.get(TEXT) for m in training_data.training_examples if m.get(TEXT) and not m.get(AUGMENTED)]
        extra: list[str] = []
        for name in self.config["vocabulary_files"]:
            path = Path(name)
            if not path.exists():
                raise InvalidConfigException(f"SpellingNormaliser: vocabulary file {name} does not exist")
            extra += pattern_phrases(path)
        self.normaliser = Normaliser.from_texts(texts, extra, common_words=self.config["common_words"])
        with self._model_storage.write_to(self._resource) as directory:
            (Path(directory) / "normaliser.json").write_text(json.dumps(self.normaliser.to_dict()))
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SpellingNormaliser:
        """Loads the trained vocabulary (an untrained component if there is none)."""
        try:
            with model_storage.read_from(resource) as directory:
                data = json.loads((Path(directory) / "normaliser.json").read_text())
            normaliser: Optional[Normaliser] = Normaliser.from_dict(data)
        except (ValueError, FileNotFoundError):
            normaliser = None
        return cls(config, model_storage, resource, normaliser)

    def _apply(self, messages: list[Message], to_output: bool) -> None:
        if self.normaliser is None:
            return
        for message in messages:
            text = message.get(TEXT)
            if text:
                normalised, spans = self.normaliser.normalise_with_spans(text)
                message.set(NORMALISED_TEXT, normalised, add_to_output=to_output)
                message.set(NORMALISED_SPANS, [[s.start, s.end, s.source_start, s.source_end, s.same] for s in spans])

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Normalises the training examples the same way as messages at run time."""
        self._apply(training_data.training_examples, to_output=False)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Sets ``text_normalised`` on each message (and in its parse data)."""
        self._apply(messages, to_output=True)
        return messages
