"""The ONNX forward pass of all-MiniLM-L6-v2 gives the numpy reference pass's features.

``bot.rasa_runtime.nlu.minilm_onnx`` rebuilds the model as an ONNX graph that
onnxruntime runs; the hand-written numpy pass stays as the reference. Both
live in ``.venv-rasa`` (this test run has no Rasa), so one subprocess there
encodes varied messages with both and featurizes them with both backends of
``MiniLMFeaturizer``; a second one hides onnxruntime to see the fallback. The
tests read their JSON reports.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from bot.launch import quiet_rasa_env
from tests.conftest import ROOT

RASA_PYTHON = ROOT / ".venv-rasa" / "bin" / "python"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not RASA_PYTHON.exists(), reason="the Rasa environment .venv-rasa is missing (make env creates it)"
    ),
]

# what a customer may send: short, typed, accented and other scripts, emoji, control characters
MESSAGES = [
    "hi",
    "where is my order?",
    "whre is my oder 581580, its been 2 weeks!!",
    "I want to return the blue ceramic mug and the tea towels, can I get a refund?",
    "Café crème à Zürich — naïve façade",
    "你好 东京 こんにちは",
    "emoji 😀🎉 test",
    "   ",  # nothing but spaces: only [CLS] and [SEP] reach the model
    "\u200b\u0007\u0000",  # zero-width and control characters, dropped by the tokenizer
    "x" * 120,  # one over-long word: a single [UNK]
    "where is my order and what are your opening hours?",  # two clauses: clause vectors too
]

# Runs in .venv-rasa. argv: work directory, "parity" or "fallback".
RASA_SCRIPT = textwrap.dedent(
    """
    import json, logging, os, sys
    from pathlib import Path

    if sys.argv[2] == "fallback":
        sys.modules["onnxruntime"] = None  # as if it were not installed: importing it raises ImportError

    import numpy as np
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
    from rasa.shared.exceptions import InvalidConfigException
    from rasa.shared.nlu.constants import TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.rasa_runtime.channels import MAX_MESSAGE_CHARS
    from bot.rasa_runtime.nlu.minilm import CLAUSE_VECTORS, MiniLMFeaturizer, load_encoder

    work = Path(sys.argv[1])
    messages = json.loads((work / "messages.json").read_text())
    # the longest messages a channel lets through: words, and one unbroken run of digits and letters
    sentence = "I ordered the blue ceramic mug last week but the parcel still has not arrived. "
    messages += [(sentence * MAX_MESSAGE_CHARS)[:MAX_MESSAGE_CHARS], ("a1b2c3d4e5 " * 100)[:MAX_MESSAGE_CHARS]]
    cache = work / "cache"

    warnings = []
    class Collect(logging.Handler):
        def emit(self, record):
            if record.levelno >= logging.WARNING and record.name.startswith("bot.rasa_runtime.nlu"):
                warnings.append(record.getMessage())
    logging.getLogger().addHandler(Collect())

    def featurizer(**options):
        return MiniLMFeaturizer({**MiniLMFeaturizer.get_default_config(), "onnx_cache_dir": str(cache), **options}, "minilm")

    def features(component):
        out = []
        for text in messages:
            message = Message(data={TEXT: text})
            WhitespaceTokenizer(WhitespaceTokenizer.get_default_config()).process([message])
            component.process([message])
            sequence, sentence = message.get_dense_features(TEXT)
            out.append({
                "sentence": sentence.features,
                "sequence": None if sequence is None else sequence.features,
                "clauses": [(c, v) for c, v in message.get(CLAUSE_VECTORS) or []],
            })
        return out

    def largest_gap(a, b):
        return float(np.abs(np.asarray(a) - np.asarray(b)).max()) if np.size(a) else 0.0

    reference = featurizer(backend="numpy")
    report = {"messages": messages}
    if sys.argv[2] == "fallback":
        fallback = [featurizer(), featurizer(runtime_threads=2)]
        ours, theirs = features(fallback[0]), features(reference)
        report.update(
            encoders=[type(f.encoder).__name__ for f in fallback],
            warnings=warnings,
            same_features=all(largest_gap(a["sentence"], b["sentence"]) == 0.0 for a, b in zip(ours, theirs)),
        )
    else:
        onnx = featurizer()
        numpy_vectors, numpy_pieces = reference.encoder.encode(messages, return_pieces=True)
        onnx_vectors, onnx_pieces = onnx.encoder.encode(messages, return_pieces=True)
        numpy_features, onnx_features = features(reference), features(onnx)
        rejected = {}
        for option, value in [("backend", "torch"), ("runtime_threads", 0), ("onnx_cache_dir", 3), ("precision", "fp16")]:
            try:
                featurizer(**{option: value})
            except InvalidConfigException as exc:
                rejected[option] = str(exc)
        cached = sorted(p.name for p in cache.iterdir())
        stamp = (cache / cached[0]).stat().st_mtime_ns
        load_encoder(backend="onnx", threads=3, cache_dir=cache)  # a new session: reads the cached graph
        blocked = work / "a-file"
        blocked.write_text("not a directory")
        unwritable = load_encoder(backend="onnx", threads=1, cache_dir=blocked / "cache")
        int8_vectors = featurizer(precision="int8").encoder.encode(messages)
        report.update(
            encoder=type(onnx.encoder).__name__,
            cosine=[float(c) for c in (numpy_vectors * onnx_vectors).sum(axis=1)],
            vector_gap=[largest_gap(a, b) for a, b in zip(numpy_vectors, onnx_vectors)],
            pieces=[[len(a[0]), len(b[0])] for a, b in zip(numpy_pieces, onnx_pieces)],
            piece_gap=[largest_gap(a[1], b[1]) for a, b in zip(numpy_pieces, onnx_pieces)],
            feature_shapes=[
                [[np.shape(f[k]) for k in ("sentence", "sequence")] for f in (a, b)]
                for a, b in zip(numpy_features, onnx_features)
            ],
            sentence_gap=[largest_gap(a["sentence"], b["sentence"]) for a, b in zip(numpy_features, onnx_features)],
            sequence_gap=[
                largest_gap(a["sequence"], b["sequence"]) if a["sequence"] is not None else None
                for a, b in zip(numpy_features, onnx_features)
            ],
            clauses=[[[c for c, _ in f["clauses"]] for f in (a, b)] for a, b in zip(numpy_features, onnx_features)],
            clause_gap=max(
                [largest_gap(x[1], y[1]) for a, b in zip(numpy_features, onnx_features) for x, y in zip(a["clauses"], b["clauses"])]
                or [0.0]
            ),
            rejected=rejected,
            cached=cached,
            cache_rewritten=(cache / cached[0]).stat().st_mtime_ns != stamp,
            cached_with_int8=sorted(p.name for p in cache.iterdir()),
            int8_cosine=[float(c) for c in (numpy_vectors * int8_vectors).sum(axis=1)],
            unwritable_cache_works=bool(np.allclose(unwritable.encode(["hi"]), numpy_vectors[0:1], atol=1e-4)),
            warnings=warnings,
        )
    print(json.dumps(report))
    """
)


def run_in_rasa_env(work: Path, mode: str) -> dict[str, Any]:
    (work / "messages.json").write_text(json.dumps(MESSAGES))
    (work / "run.py").write_text(RASA_SCRIPT)
    done = subprocess.run(
        [str(RASA_PYTHON), str(work / "run.py"), str(work), mode],
        cwd=ROOT,
        env=quiet_rasa_env({"OMP_NUM_THREADS": "1"}),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def parity(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_in_rasa_env(tmp_path_factory.mktemp("minilm_parity"), "parity")


@pytest.fixture(scope="module")
def fallback(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return run_in_rasa_env(tmp_path_factory.mktemp("minilm_fallback"), "fallback")


def test_the_featurizer_runs_the_onnx_graph_by_default(parity: dict[str, Any]) -> None:
    assert parity["encoder"] == "OnnxMiniLMEncoder"
    assert all("not cached" in w for w in parity["warnings"])  # no fallback; only the blocked cache below warns


def test_sentence_vectors_agree_with_the_numpy_pass_on_every_kind_of_message(parity: dict[str, Any]) -> None:
    assert len(parity["messages"]) == len(MESSAGES) + 2  # the two longest a channel accepts ran too
    for text, cosine, gap in zip(parity["messages"], parity["cosine"], parity["vector_gap"]):
        assert cosine >= 0.9999, text
        assert gap <= 1e-4, text


def test_word_piece_states_agree_with_the_numpy_pass(parity: dict[str, Any]) -> None:
    for text, (numpy_count, onnx_count), gap in zip(parity["messages"], parity["pieces"], parity["piece_gap"]):
        assert numpy_count == onnx_count, text
        assert gap <= 1e-4, text
    assert max(count for count, _ in parity["pieces"]) == 254  # the longest messages fill the 256-piece window


def test_the_features_rasa_receives_are_the_same_with_either_pass(parity: dict[str, Any]) -> None:
    for text, (numpy_shapes, onnx_shapes), sentence_gap, sequence_gap in zip(
        parity["messages"], parity["feature_shapes"], parity["sentence_gap"], parity["sequence_gap"]
    ):
        assert numpy_shapes == onnx_shapes, text
        assert sentence_gap <= 1e-4, text
        assert sequence_gap is None or sequence_gap <= 1e-4, text


def test_each_clause_of_a_two_request_message_gets_the_same_vector_from_either_pass(parity: dict[str, Any]) -> None:
    two_requests = parity["clauses"][MESSAGES.index("where is my order and what are your opening hours?")]
    assert two_requests[0] == two_requests[1] and len(two_requests[0]) == 2
    assert parity["clause_gap"] <= 1e-4


def test_the_graph_is_built_once_and_read_from_the_cache_afterwards(parity: dict[str, Any]) -> None:
    assert len(parity["cached"]) == 1 and parity["cached"][0].endswith(".onnx")
    assert not parity["cache_rewritten"]


def test_a_cache_directory_that_cannot_be_written_is_reported_and_the_graph_still_runs(parity: dict[str, Any]) -> None:
    assert parity["unwritable_cache_works"]
    assert [w for w in parity["warnings"] if "not cached" in w]


def test_the_int8_graph_is_cached_apart_and_stays_close_to_the_reference(parity: dict[str, Any]) -> None:
    assert parity["cached_with_int8"] == sorted([*parity["cached"], parity["cached"][0].replace(".onnx", "-int8.onnx")])
    assert min(parity["int8_cosine"]) >= 0.95  # close, not equal: bench/nlu_int8.py measures what that costs
    assert max(parity["int8_cosine"]) < 0.9999  # it is a different graph, not the float32 one again


@pytest.mark.parametrize("option", ["backend", "runtime_threads", "onnx_cache_dir", "precision"])
def test_bad_options_are_refused_with_a_message_that_names_them(parity: dict[str, Any], option: str) -> None:
    assert f"`{option}`" in parity["rejected"][option]


def test_without_onnxruntime_the_numpy_pass_serves_and_says_so_once(fallback: dict[str, Any]) -> None:
    assert fallback["encoders"] == ["MiniLMEncoder", "MiniLMEncoder"]
    assert fallback["same_features"]
    falling_back = [w for w in fallback["warnings"] if "fall back to the numpy forward pass" in w]
    assert len(falling_back) == 1
    assert "onnxruntime" in falling_back[0]
