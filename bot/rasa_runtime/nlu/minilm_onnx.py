"""The all-MiniLM-L6-v2 forward pass as an ONNX graph, run by onnxruntime.

:class:`~bot.rasa_runtime.nlu.minilm_model.MiniLMEncoder` computes the model with
numpy; this module writes the same computation, operation for operation, as
an ONNX graph with the ``onnx`` package's helpers (no torch, no export): the
embeddings and their layer norm, six layers of attention with the padding
mask as a -1e9 bias, the erf GELU, then the mean of the last layer over the
real pieces and its L2 normalisation. onnxruntime runs it on the CPU 3–4
times faster than numpy for one message (BENCHMARKS.md, issue 15).
Tokenisation stays in Python (:mod:`bot.rasa_runtime.nlu.wordpiece`), shared
with the numpy pass.

The graph is built from ``model.safetensors`` the first time a process asks
for it and written to a cache directory under a name derived from the
weights' and the builder's content, so the other Rasa workers and later
starts read it instead of rebuilding; a graph that cannot be written there
is kept in memory (with a warning). The numpy pass stays the reference:
``tests/unit/test_minilm_onnx.py`` checks the two agree.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from bot.rasa_runtime.nlu.minilm_model import ModelSpec, SentenceEncoder, read_safetensors

logger = logging.getLogger(__name__)

__all__ = ["OnnxMiniLMEncoder", "build_graph", "cached_graph", "quantize_int8"]

#: bump when the graph below changes, so cached graphs of an older build are not reused
GRAPH_VERSION = "1"
OPSET = 17  # LayerNormalization; onnxruntime 1.19 runs up to 21
IR_VERSION = 8

INPUT_IDS, ATTENTION_MASK = "input_ids", "attention_mask"
STATES, SENTENCES = "last_hidden_state", "sentence_embedding"


class _GraphWriter:
    """Collects nodes and initializers; every node output gets a fresh name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: Any, dtype: Any = np.float32) -> str:
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attributes: Any) -> Any:
        names = [f"{op_type.lower()}_{self._count}_{i}" for i in range(outputs)]
        self._count += 1
        self.nodes.append(helper.make_node(op_type, list(inputs), names, **attributes))
        return names[0] if outputs == 1 else names


def build_graph(weights: Mapping[str, np.ndarray], *, num_heads: int, layer_norm_eps: float) -> onnx.ModelProto:
    """The BERT encoder with mean pooling and L2 normalisation, as an ONNX model.

    Inputs ``input_ids`` (int64, batch × length, padded with 0) and
    ``attention_mask`` (float32, 1 for a real piece); outputs
    ``last_hidden_state`` (batch × length × dim) and ``sentence_embedding``
    (batch × dim, unit length). The math is
    :meth:`~bot.rasa_runtime.nlu.minilm_model.MiniLMEncoder.forward`'s.

    Parameters
    ----------
    weights : mapping of str to ndarray
        The tensors of a Hugging Face ``BertModel`` (names as in its ``model.safetensors``).
    num_heads : int
        Attention heads per layer.
    layer_norm_eps : float
        The model's layer-norm epsilon.
    """
    g = _GraphWriter()
    dim = weights["embeddings.word_embeddings.weight"].shape[1]
    if dim % num_heads:
        raise ValueError(f"hidden size {dim} is not a multiple of {num_heads} heads")
    head_dim = dim // num_heads

    def layer_norm(x: str, prefix: str) -> str:
        scale, bias = (
            g.const(prefix + ".weight", weights[prefix + ".weight"]),
            g.const(prefix + ".bias", weights[prefix + ".bias"]),
        )
        return str(g.op("LayerNormalization", x, scale, bias, axis=-1, epsilon=layer_norm_eps))

    def dense(x: str, prefix: str) -> str:
        # torch's Linear keeps (out, in); the graph multiplies by its transpose, as the numpy pass does
        w = g.const(prefix + ".weight.T", np.asarray(weights[prefix + ".weight"]).T)
        return str(g.op("Add", g.op("MatMul", x, w), g.const(prefix + ".bias", weights[prefix + ".bias"])))

    one, half = g.const("one", 1.0), g.const("half", 0.5)
    zero_1d = g.const("zero_1d", [0], np.int64)
    heads_shape = g.const("heads_shape", [0, 0, num_heads, head_dim], np.int64)
    merged_shape = g.const("merged_shape", [0, 0, dim], np.int64)

    # embeddings: word + position + token type 0, then layer norm
    length = g.op("Shape", INPUT_IDS, start=1, end=2)
    position_table = g.const("position_embeddings", weights["embeddings.position_embeddings.weight"])
    positions = g.op("Slice", position_table, zero_1d, length, zero_1d)
    words = g.op("Gather", g.const("word_embeddings", weights["embeddings.word_embeddings.weight"]), INPUT_IDS)
    token_type = g.const("token_type_embedding", np.asarray(weights["embeddings.token_type_embeddings.weight"])[0])
    x = layer_norm(g.op("Add", g.op("Add", words, positions), token_type), "embeddings.LayerNorm")

    # padding gets a large negative score, so softmax gives it no weight
    mask_4d = g.op("Unsqueeze", ATTENTION_MASK, g.const("axes_heads_queries", [1, 2], np.int64))
    attention_bias = g.op("Mul", g.op("Sub", one, mask_4d), g.const("minus_1e9", -1e9))
    scale = g.const("attention_scale", np.float32(1.0 / np.sqrt(head_dim)))
    inv_sqrt2 = g.const("inv_sqrt2", np.float32(1.0 / np.sqrt(2.0)))
    split_sizes = g.const("qkv_split", [dim, dim, dim], np.int64)

    i = 0
    while f"encoder.layer.{i}.attention.self.query.weight" in weights:
        p = f"encoder.layer.{i}."
        att = p + "attention."
        # one (dim, 3*dim) matrix for query, key and value, as in the numpy pass
        qkv_w = np.concatenate([weights[att + f"self.{n}.weight"] for n in ("query", "key", "value")], axis=0).T
        qkv_b = np.concatenate([weights[att + f"self.{n}.bias"] for n in ("query", "key", "value")])
        qkv = g.op("Add", g.op("MatMul", x, g.const(att + "qkv.weight.T", qkv_w)), g.const(att + "qkv.bias", qkv_b))
        q, k, v = g.op("Split", qkv, split_sizes, axis=2, outputs=3)
        q = g.op("Transpose", g.op("Reshape", q, heads_shape), perm=[0, 2, 1, 3])
        k = g.op("Transpose", g.op("Reshape", k, heads_shape), perm=[0, 2, 3, 1])
        v = g.op("Transpose", g.op("Reshape", v, heads_shape), perm=[0, 2, 1, 3])
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), attention_bias)
        probs = g.op("Softmax", scores, axis=-1)
        context = g.op("Reshape", g.op("Transpose", g.op("MatMul", probs, v), perm=[0, 2, 1, 3]), merged_shape)
        x = layer_norm(g.op("Add", x, dense(context, att + "output.dense")), att + "output.LayerNorm")
        h = dense(x, p + "intermediate.dense")
        h = g.op("Mul", g.op("Mul", half, h), g.op("Add", one, g.op("Erf", g.op("Mul", h, inv_sqrt2))))
        x = layer_norm(g.op("Add", x, dense(h, p + "output.dense")), p + "output.LayerNorm")
        i += 1
    if i == 0:
        raise ValueError("no encoder layers found in the weights; is this a BERT model?")
    g.nodes.append(helper.make_node("Identity", [x], [STATES]))

    # mean over the real pieces, then unit length
    mask_3d = g.op("Unsqueeze", ATTENTION_MASK, g.const("axis_width", [2], np.int64))
    axis_1 = g.const("axis_1", [1], np.int64)  # the pieces of (batch, length, dim); the width of (batch, dim)
    summed = g.op("ReduceSum", g.op("Mul", x, mask_3d), axis_1, keepdims=0)
    pooled = g.op("Div", summed, g.op("ReduceSum", ATTENTION_MASK, axis_1, keepdims=1))
    norm = g.op("Sqrt", g.op("ReduceSum", g.op("Mul", pooled, pooled), axis_1, keepdims=1))
    g.nodes.append(helper.make_node("Div", [pooled, g.op("Max", norm, g.const("norm_floor", 1e-12))], [SENTENCES]))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2 mean-pooled",
        inputs=[
            helper.make_tensor_value_info(INPUT_IDS, onnx.TensorProto.INT64, ["batch", "length"]),
            helper.make_tensor_value_info(ATTENTION_MASK, onnx.TensorProto.FLOAT, ["batch", "length"]),
        ],
        outputs=[
            helper.make_tensor_value_info(STATES, onnx.TensorProto.FLOAT, ["batch", "length", dim]),
            helper.make_tensor_value_info(SENTENCES, onnx.TensorProto.FLOAT, ["batch", dim]),
        ],
        initializer=g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="shop-assistant bot.rasa_runtime.nlu.minilm_onnx",
        producer_version=GRAPH_VERSION,
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model


def _digest(spec: ModelSpec) -> str:
    digest = hashlib.sha256(f"minilm-onnx {GRAPH_VERSION} opset {OPSET}\n".encode())
    digest.update(f"{spec.num_heads} {spec.layer_norm_eps!r}\n".encode())
    with open(spec.weights_file, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:20]


def quantize_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with its matrix products in int8: weights per output channel, activations per call.

    onnxruntime's dynamic quantisation; the embeddings, layer norms and
    softmax stay in float32. Whether the intents stay as good is measured by
    ``bench/nlu_int8.py`` on a validation split, not assumed.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="minilm-int8-") as tmp:
        out = Path(tmp) / "int8.onnx"
        quantize_dynamic(model, out, op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QInt8)
        return onnx.load(str(out))


def cached_graph(spec: ModelSpec, cache_dir: Optional[str | Path], *, int8: bool = False) -> str | bytes:
    """The serialised graph of ``spec``'s model: a file in ``cache_dir`` (built there once), else bytes.

    The name of the file is a digest of the weights and of this builder, so a
    changed model or graph is never served from an old file; it is written to
    a temporary name and renamed, so a concurrent reader sees all or nothing.
    With ``int8`` the graph's matrix products are quantised (:func:`quantize_int8`).
    """
    name = f"minilm-{_digest(spec)}{'-int8' if int8 else ''}.onnx"
    target = Path(cache_dir) / name if cache_dir else None
    if target is not None and target.is_file():
        return str(target)
    weights = read_safetensors(spec.weights_file)
    model = build_graph(weights, num_heads=spec.num_heads, layer_norm_eps=spec.layer_norm_eps)
    if int8:
        model = quantize_int8(model)
    data: bytes = model.SerializeToString()
    if target is None:
        return data
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the graph from a server running as another user
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        logger.warning("MiniLM ONNX graph not cached (%s: %s); each process will build its own", target.parent, exc)
        return data
    logger.info("MiniLM ONNX graph written to %s", target)
    return str(target)


class OnnxMiniLMEncoder(SentenceEncoder):
    """all-MiniLM-L6-v2 sentence vectors from the ONNX graph of :func:`build_graph`, run by onnxruntime.

    Parameters
    ----------
    spec : ModelSpec
        The model directory's settings (:func:`~bot.rasa_runtime.nlu.minilm_model.read_model_spec`).
    threads : int
        onnxruntime intra-op threads. One per Rasa process suits a message at a
        time on a small machine; more help only large training batches.
    cache_dir : str or Path, optional
        Where the built graph is kept between processes; ``None`` builds it in memory.
    int8 : bool
        Run the int8 quantised graph (:func:`quantize_int8`): faster, and no
        longer equal to the numpy pass.

    Examples
    --------
    >>> spec = read_model_spec(default_model_path())  # doctest: +SKIP
    >>> encoder = OnnxMiniLMEncoder(spec, threads=1, cache_dir="var/minilm-onnx")  # doctest: +SKIP
    >>> encoder.encode(["where is my card?"]).shape  # doctest: +SKIP
    (1, 384)
    """

    def __init__(self, spec: ModelSpec, *, threads: int, cache_dir: Optional[str | Path], int8: bool = False) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings about unused initializers are noise here
        self.session = ort.InferenceSession(
            cached_graph(spec, cache_dir, int8=int8), sess_options=options, providers=["CPUExecutionProvider"]
        )
        dim = int(self.session.get_outputs()[1].shape[1])
        super().__init__(spec.tokenizer(), spec.max_seq_length, dim)

    def forward(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Last-layer states and sentence vectors, computed by onnxruntime."""
        states, sentences = self.session.run([STATES, SENTENCES], {INPUT_IDS: ids, ATTENTION_MASK: mask})
        return states, sentences
