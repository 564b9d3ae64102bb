"""The NLU validation bench's training and scoring step, reused by bench/nlu_classifier_tune.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import nlu_robustness


def test_train_and_score_trains_once_and_scores_both_validation_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    truth = ["greet", "greet", "order_status", "order_status"]
    parsed = {
        "clean": ["greet", "greet", "order_status", "order_status"],
        "typed": ["greet", "nlu_fallback", "order_status", "greet"],
    }
    calls: list[list[str]] = []

    def fake_run(args: list[str], env: dict[str, str], timeout: int = 1800) -> None:
        calls.append(args)
        if "--worker" in args:
            _, texts, out = args[args.index("--worker") + 1 :]
            Path(out).write_text(json.dumps(parsed[Path(texts).stem]))

    monkeypatch.setattr(nlu_robustness, "run", fake_run)

    scores, _seconds = nlu_robustness.train_and_score(tmp_path / "v.yml", "v", tmp_path, truth)

    assert [c[1] for c in calls[:1]] == ["train"] and calls[0][-1] == "v"
    assert str(tmp_path / "models" / "v.tar.gz") in calls[1] and len(calls) == 3
    assert scores["clean"] == (1.0, 1.0, 0.0)
    typed_f1 = (2 * 1 / (2 + 0 + 1) + 2 * 1 / (2 + 1 + 1)) / 2  # greet: tp 1, fp 1, fn 1; order_status: tp 1, fn 1
    assert scores["typed"] == pytest.approx((typed_f1, 0.5, 0.25))


def test_validation_sets_keep_the_truth_and_type_every_message_reproducibly() -> None:
    held = [("greet", "Hello there, I'd like some help"), ("order_status", "Where is my parcel?")]

    truth, clean, typed = nlu_robustness.validation_sets(held)

    assert truth == ["greet", "order_status"]
    assert clean == ["Hello there, I'd like some help", "Where is my parcel?"]
    assert typed == nlu_robustness.validation_sets(held)[2]
    assert typed == [nlu_robustness.EvalTypist(seed=1000 + i).type_out(t) for i, t in enumerate(clean)]
