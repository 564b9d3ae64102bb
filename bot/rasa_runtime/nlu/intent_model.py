"""The assistant's intent model: a calibrated linear model over TF-IDF n-grams and sentence embeddings.

Each message becomes three blocks of features, each of unit length:

- TF-IDF of word 1–2-grams (sublinear tf), which catches the exact phrasing of
  an intent ("top up", "exchange rate");
- TF-IDF of character 1–4-grams inside word boundaries (``char_wb``), which
  survives typos and inflections ("refnd", "cancelled");
- the sentence embedding a dense featurizer put on the message (normally
  :class:`bot.rasa_runtime.nlu.minilm.MiniLMFeaturizer`), scaled by ``dense_weight``,
  which carries meaning across paraphrases that share no words.

A one-vs-rest linear SVM (liblinear, fixed ``random_state``) scores every
intent: about +1 for "clearly this intent", -1 for "clearly not". Scores
become probabilities by a softmax over the intents plus one constant "none of
them" score, all multiplied by an inverse temperature, both fitted on
out-of-fold scores: the training data is split into ``calibration_folds``
folds, class by class, and the whole model (vocabularies included) is refitted
on all folds but one to score the one held out. The "none" score is the
``none_quantile`` (10%) quantile of the held-out messages' scores for their
true intent, so it follows the scale of the scores (which shrinks with little
data); the temperature is the one that maximises the held-out likelihood. So the
confidences of in-domain messages are close to calibrated (on a Banking77
validation slice the expected calibration error is 0.05, and 0.02 with a 5%
quantile, which leaves gibberish less margin), while a message that no
intent claims (every score well below zero: gibberish, off-topic chat) leaves
most of the mass on "none" and falls under Rasa's ``FallbackClassifier``
threshold, even when the assistant has only a few intents, where a plain
softmax would hand it a confident winner. The "none" share is not reported as
an intent; the ranking simply sums to less than one. The final model is the
one fitted on all the data, so calibration never costs accuracy.

Why the n-grams are computed here, from the message text, rather than read
from Rasa's sparse features: Rasa's ``CountVectorsFeaturizer`` gives raw
counts (no idf, no sublinear tf, no per-block normalisation), and a linear
model over raw counts of 1–4-grams lets long messages and frequent character
n-grams dominate; with the weighting done here the pipeline also needs no
other featurizer, and the vocabularies are persisted with the classifier, so
training and run time cannot disagree. The price is that a pipeline which also
runs ``CountVectorsFeaturizer`` for DIET counts n-grams twice (well under a
millisecond per message).

The model is stored as JSON vocabularies and ``.npy`` arrays (no pickle).

This module needs numpy, scipy and scikit-learn but not Rasa; the Rasa graph
component around it is :class:`bot.rasa_runtime.nlu.classifier.LinearIntentClassifier`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize_scalar
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.svm import LinearSVC

__all__ = ["LinearIntentModel"]

WORD_TOKEN_PATTERN = r"(?u)\b\w+\b"  # keeps one-letter words ("i", "a") and digits

# Used when the data is too small to score held-out messages (e.g. one example
# per intent): about what Banking77's out-of-fold scores give.
DEFAULT_INVERSE_TEMPERATURE = 4.0
DEFAULT_NONE_SCORE = -0.1
# Tiny, perfectly separable data would push the temperature to zero; the upper
# bound keeps a clear winner near 1.0 without making every score a certainty.
INVERSE_TEMPERATURE_BOUNDS = (0.5, 20.0)


def _softmax_with_none(scores: np.ndarray, inverse_temperature: float, none_score: float) -> np.ndarray:
    """Softmax over the intents' scores and a constant "none" score; returns the intents' part."""
    logits = np.concatenate([scores, np.full((scores.shape[0], 1), none_score)], axis=1) * inverse_temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights[:, :-1] / weights.sum(axis=1, keepdims=True)


class _Tfidf:
    """Sublinear-tf, smoothed-idf, L2-normalised n-gram weights over a fixed vocabulary.

    The same weighting as scikit-learn's ``TfidfVectorizer(sublinear_tf=True)``,
    kept as a vocabulary and an idf vector so it is stored without pickle.
    """

    def __init__(self, analyzer: str, ngram_range: tuple[int, int]) -> None:
        self.analyzer = analyzer
        self.ngram_range = ngram_range

    def _counter(self, vocabulary: Optional[dict[str, int]] = None) -> CountVectorizer:
        return CountVectorizer(
            analyzer=self.analyzer,
            ngram_range=self.ngram_range,
            lowercase=True,
            token_pattern=WORD_TOKEN_PATTERN if self.analyzer == "word" else None,
            vocabulary=vocabulary,
            dtype=np.float64,
        )

    def fit_transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        counter = self._counter()
        counts = counter.fit_transform(texts).tocsr()
        self.terms_ = [term for term, _ in sorted(counter.vocabulary_.items(), key=lambda kv: kv[1])]
        doc_freq = np.bincount(counts.indices, minlength=counts.shape[1])
        self.idf_ = np.log((1.0 + counts.shape[0]) / (1.0 + doc_freq)) + 1.0
        self._analyze: Optional[Callable[[str], list[str]]] = None
        return self._weigh(counts)

    def transform(self, texts: Sequence[str]) -> sp.csr_matrix:
        weights, columns, indptr = self.weights(texts)
        return sp.csr_matrix((weights, columns, indptr), shape=(len(indptr) - 1, len(self.terms_)))

    def weights(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``transform(texts)`` as the arrays of a CSR matrix: ``(data, indices, indptr)``.

        The n-grams are counted here over the fitted vocabulary, the counts
        ``CountVectorizer.transform`` gives: with scikit-learn's analyzer (so the
        n-grams are the ones the vocabulary was fitted on) and the vocabulary's
        index built once, where scikit-learn builds its analyzer and checks the
        vocabulary at every call, and without building intermediate sparse
        matrices: together about a millisecond of a one-message parse.
        """
        if getattr(self, "_analyze", None) is None:
            self._index = {term: i for i, term in enumerate(self.terms_)}
            self._analyze = self._counter(self._index).build_analyzer()
        analyze, index = self._analyze, self._index
        assert analyze is not None
        columns: list[int] = []
        counts: list[int] = []
        indptr = [0]
        for text in texts:
            found: dict[int, int] = {}
            for gram in analyze(text):
                column = index.get(gram)
                if column is not None:
                    found[column] = found.get(column, 0) + 1
            for column in sorted(found):
                columns.append(column)
                counts.append(found[column])
            indptr.append(len(columns))
        at = np.asarray(indptr, dtype=np.int32)
        found_columns = np.asarray(columns, dtype=np.int32)
        return self._weights(np.asarray(counts, dtype=np.float64), found_columns, at), found_columns, at

    def _weigh(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        data = self._weights(counts.data, counts.indices, counts.indptr)
        return sp.csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)

    def _weights(self, counts: np.ndarray, columns: np.ndarray, indptr: np.ndarray) -> np.ndarray:
        # on the stored arrays directly: scipy's matrix products cost ~1 ms per message
        n = len(indptr) - 1
        rows = np.repeat(np.arange(n), np.diff(indptr))
        data = (1.0 + np.log(counts)) * self.idf_[columns]
        norms = np.sqrt(np.bincount(rows, weights=data * data, minlength=n))
        data /= np.where(norms > 0, norms, 1.0)[rows]
        return data


def _class_folds(labels: np.ndarray, n_folds: int, seed: int, groups: Optional[Sequence[str]] = None) -> np.ndarray:
    """Fold number per example: each class dealt round-robin, in a seeded random order.

    Unlike scikit-learn's StratifiedKFold this accepts classes smaller than
    the number of folds (they are then missing from some folds' training part).
    With ``groups``, examples of one group (a training example and its noisy
    copies) share a fold: a copy scored by a model that saw its original would
    look easier than a new message, and calibrate the confidences too high.
    """
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    keys = np.asarray(groups if groups is not None else [str(i) for i in range(len(labels))], dtype=object)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        unique = list(dict.fromkeys(keys[members]))
        order = rng.permutation(len(unique))
        start = int(rng.integers(n_folds))
        fold_of = {unique[i]: (start + rank) % n_folds for rank, i in enumerate(order)}
        folds[members] = [fold_of[k] for k in keys[members]]
    return folds


class LinearIntentModel:
    """Calibrated linear intent model over TF-IDF n-grams and dense sentence vectors.

    Parameters
    ----------
    word_ngram_range, char_ngram_range : tuple of int
        N-gram sizes of the word and the ``char_wb`` TF-IDF blocks.
    dense_weight : float
        Length of the (unit) sentence-embedding block relative to each unit TF-IDF block.
    C : float
        Inverse regularisation strength of the linear SVM.
    class_weight : None or "balanced"
        Passed to the SVM; "balanced" up-weights small intents.
    none_quantile : float
        Quantile of the held-out true-intent scores used as the score of "none
        of the intents" in the confidence softmax.
    calibration_folds : int
        Folds of the out-of-fold scores the temperature is fitted on (at least
        2; with too little data a default temperature is used).
    random_state : int
        Seed of the SVM's coordinate descent and of the folds.
    max_iter : int
        Iterations of the SVM solver.

    Attributes
    ----------
    classes_ : ndarray of str
        The intents, in column order.
    inverse_temperature_ : float
        Multiplies the SVM scores before the softmax.
    none_score_ : float
        The score of "none of the intents".

    Examples
    --------
    >>> texts = ["where is my order", "track my parcel", "hello there", "hi!"] * 3
    >>> labels = ["track", "track", "greet", "greet"] * 3
    >>> model = LinearIntentModel(calibration_folds=3).fit(texts, None, labels)
    >>> list(model.classes_[model.predict_proba(["where's my parcel"], None).argmax(axis=1)])
    ['track']
    """

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (1, 4),
        dense_weight: float = 1.5,
        C: float = 1.0,
        class_weight: Optional[str] = None,
        none_quantile: float = 0.1,
        calibration_folds: int = 3,
        random_state: int = 42,
        max_iter: int = 5000,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.dense_weight = dense_weight
        self.C = C
        self.class_weight = class_weight
        self.none_quantile = none_quantile
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.max_iter = max_iter

    # -- fitting ---------------------------------------------------------------

    def fit(
        self,
        texts: Sequence[str],
        dense: Optional[np.ndarray],
        labels: Sequence[str],
        groups: Optional[Sequence[str]] = None,
    ) -> LinearIntentModel:
        """Fit the vocabularies, the SVM and the confidence temperature.

        Parameters
        ----------
        texts : sequence of str
            The training messages.
        dense : ndarray of shape (n_messages, n_dims), or None
            Their sentence vectors (None: n-grams only).
        labels : sequence of str
            Their intents.
        groups : sequence of str, optional
            A group key per message (e.g. the example a noisy copy was made
            from): a group stays in one calibration fold.
        """
        texts, dense, y = self._validate(texts, dense, labels)
        if self.calibration_folds < 2:
            raise ValueError(f"calibration_folds must be at least 2, got {self.calibration_folds}")
        self.classes_ = np.unique(y)
        self.n_dense_ = dense.shape[1]
        if len(self.classes_) == 1:
            # nothing to tell apart: every message is that intent
            self._fit_single_class()
            return self
        self._fit_scorer(texts, dense, y)
        self.none_score_, self.inverse_temperature_ = self._fit_calibration(texts, dense, y, groups)
        return self

    def _validate(
        self, texts: Sequence[str], dense: Optional[np.ndarray], labels: Sequence[str]
    ) -> tuple[list[str], np.ndarray, np.ndarray]:
        texts = [t if isinstance(t, str) else "" for t in texts]
        y = np.asarray([str(label) for label in labels])
        if len(texts) == 0:
            raise ValueError("no training examples: give at least one message with an intent")
        if len(texts) != len(y):
            raise ValueError(f"{len(texts)} messages but {len(y)} intents: give one intent per message")
        dense = self._dense_block(dense, len(texts))
        if not np.all(np.isfinite(dense)):
            raise ValueError("the sentence vectors contain NaN or infinite values")
        return texts, dense, y

    @staticmethod
    def _dense_block(dense: Optional[np.ndarray], n: int) -> np.ndarray:
        if dense is None:
            return np.zeros((n, 0), dtype=np.float64)
        dense = np.asarray(dense, dtype=np.float64)
        if dense.ndim != 2 or dense.shape[0] != n:
            raise ValueError(f"expected sentence vectors of shape ({n}, n_dims), got {dense.shape}")
        return dense

    def _blocks(self) -> tuple[_Tfidf, _Tfidf]:
        return _Tfidf("word", tuple(self.word_ngram_range)), _Tfidf("char_wb", tuple(self.char_ngram_range))  # type: ignore[arg-type]

    def _features(self, word: _Tfidf, char: _Tfidf, texts: list[str], dense: np.ndarray, fit: bool) -> sp.csr_matrix:
        if fit:
            parts = [word.fit_transform(texts), char.fit_transform(texts)]
        else:
            parts = [word.transform(texts), char.transform(texts)]
        return sp.hstack([*parts, sp.csr_matrix(dense * self.dense_weight)], format="csr")

    def _svm(self) -> LinearSVC:
        return LinearSVC(
            C=self.C, class_weight=self.class_weight, random_state=self.random_state, max_iter=self.max_iter
        )

    def _fit_scorer(self, texts: list[str], dense: np.ndarray, y: np.ndarray) -> None:
        self.word_, self.char_ = self._blocks()
        X = self._features(self.word_, self.char_, texts, dense, fit=True)
        svm = self._svm().fit(X, y)
        coef = svm.coef_ if len(self.classes_) > 2 else np.vstack([-svm.coef_, svm.coef_])
        intercept = svm.intercept_ if len(self.classes_) > 2 else np.array([-svm.intercept_[0], svm.intercept_[0]])
        # (n_features, n_classes), float32: a sparse row times it is the whole prediction
        self.coef_ = np.ascontiguousarray(coef.T, dtype=np.float32)
        self.intercept_ = intercept.astype(np.float32)

    def _fit_single_class(self) -> None:
        self.word_, self.char_ = self._blocks()
        self.word_.terms_, self.word_.idf_ = [], np.zeros(0)
        self.char_.terms_, self.char_.idf_ = [], np.zeros(0)
        self.coef_ = np.zeros((self.n_dense_, 1), dtype=np.float32)
        self.intercept_ = np.zeros(1, dtype=np.float32)
        self.none_score_, self.inverse_temperature_ = DEFAULT_NONE_SCORE, DEFAULT_INVERSE_TEMPERATURE

    def _fit_calibration(
        self, texts: list[str], dense: np.ndarray, y: np.ndarray, groups: Optional[Sequence[str]] = None
    ) -> tuple[float, float]:
        """The "none" score and the inverse temperature, from out-of-fold scores."""
        folds = _class_folds(y, self.calibration_folds, self.random_state, groups)
        logits: list[np.ndarray] = []
        truths: list[np.ndarray] = []
        for fold in range(self.calibration_folds):
            held_out, kept = folds == fold, folds != fold
            kept_classes = np.unique(y[kept])
            if not held_out.any() or len(kept_classes) < 2:
                continue
            word, char = self._blocks()
            texts_kept = [t for t, k in zip(texts, kept) if k]
            texts_out = [t for t, h in zip(texts, held_out) if h]
            X_kept = self._features(word, char, texts_kept, dense[kept], fit=True)
            svm = self._svm().fit(X_kept, y[kept])
            scores = svm.decision_function(self._features(word, char, texts_out, dense[held_out], fit=False))
            if len(kept_classes) == 2:
                scores = np.column_stack([-scores, scores])
            # a held-out message whose intent this fold never saw says nothing about the temperature
            known = np.isin(y[held_out], kept_classes)
            truth = np.searchsorted(kept_classes, y[held_out][known])
            # pad to a common width with -inf (an intent the fold lacks) so folds stack
            padded = np.full((known.sum(), len(self.classes_)), -np.inf)
            padded[:, : scores.shape[1]] = scores[known]
            logits.append(padded)
            truths.append(truth)
        if not logits or not sum(len(t) for t in truths):
            return DEFAULT_NONE_SCORE, DEFAULT_INVERSE_TEMPERATURE
        scores_all, truth_all = np.vstack(logits), np.concatenate(truths)
        rows = np.arange(len(truth_all))
        none_score = float(np.quantile(scores_all[rows, truth_all], self.none_quantile))

        def nll(log_t: float) -> float:
            probs = _softmax_with_none(scores_all, float(np.exp(log_t)), none_score)
            return float(-np.mean(np.log(np.maximum(probs[np.arange(len(truth_all)), truth_all], 1e-300))))

        lo, hi = np.log(INVERSE_TEMPERATURE_BOUNDS[0]), np.log(INVERSE_TEMPERATURE_BOUNDS[1])
        result = minimize_scalar(nll, bounds=(lo, hi), method="bounded")
        return none_score, float(np.exp(result.x))

    # -- prediction ------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise NotFittedError("This LinearIntentModel is not fitted yet: call fit() or load() first.")

    def decision_function(self, texts: Sequence[str], dense: Optional[np.ndarray]) -> np.ndarray:
        """SVM scores, shape ``(n_messages, n_intents)``."""
        self._check_fitted()
        texts = [t if isinstance(t, str) else "" for t in texts]
        dense = self._dense_block(dense, len(texts))
        if dense.shape[1] != self.n_dense_:
            raise ValueError(
                f"the model was trained on {self.n_dense_}-dimensional sentence vectors but got "
                f"{dense.shape[1]}: is the same dense featurizer in the pipeline?"
            )
        if len(self.classes_) == 1:
            return np.zeros((len(texts), 1))
        X = self._scoring_features(texts, dense)
        return np.asarray(X @ self.coef_, dtype=np.float64) + self.intercept_

    def _scoring_features(self, texts: list[str], dense: np.ndarray) -> sp.csr_matrix:
        """``_features(..., fit=False)`` in float32, put together without scipy's general ``hstack``.

        The same matrix, entry for entry (so the same scores): each row holds the
        word block's entries, then the character block's, then the sentence
        vector's non-zero values, columns offset by the blocks before. In float32
        like ``coef_``: a float64 row would make scipy copy the whole coefficient
        matrix. For one message this takes a fifth of the general path's time.
        """
        word, word_columns, word_at = self.word_.weights(texts)
        char, char_columns, char_at = self.char_.weights(texts)
        n_word, n_char = len(self.word_.terms_), len(self.char_.terms_)
        weighted = dense * self.dense_weight
        dense_rows, dense_columns = np.nonzero(weighted)  # row by row, columns ascending, as csr_matrix(weighted)
        n = len(texts)
        rows = np.concatenate(
            [np.repeat(np.arange(n), np.diff(word_at)), np.repeat(np.arange(n), np.diff(char_at)), dense_rows]
        )
        columns = np.concatenate([word_columns, char_columns + n_word, dense_columns + n_word + n_char])
        data = np.concatenate([word, char, weighted[dense_rows, dense_columns]])
        order = np.argsort(rows, kind="stable")  # row-major; within a row the blocks stay in order
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
        width = n_word + n_char + weighted.shape[1]
        return sp.csr_matrix(
            (data[order].astype(np.float32), columns[order].astype(np.int32), indptr.astype(np.int32)), shape=(n, width)
        )

    def predict_proba(self, texts: Sequence[str], dense: Optional[np.ndarray]) -> np.ndarray:
        """Confidence per intent, shape ``(n_messages, n_intents)``.

        Each row sums to less than 1: what is left is the chance that the
        message is none of the intents.
        """
        scores = self.decision_function(texts, dense)
        if len(self.classes_) == 1:
            return np.ones_like(scores)
        return _softmax_with_none(scores, self.inverse_temperature_, self.none_score_)

    # -- storage ---------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the fitted model as JSON and ``.npy`` files into ``directory``."""
        self._check_fitted()
        meta = {
            "params": {
                "word_ngram_range": list(self.word_ngram_range),
                "char_ngram_range": list(self.char_ngram_range),
                "dense_weight": self.dense_weight,
                "C": self.C,
                "class_weight": self.class_weight,
                "none_quantile": self.none_quantile,
                "calibration_folds": self.calibration_folds,
                "random_state": self.random_state,
                "max_iter": self.max_iter,
            },
            "classes": [str(c) for c in self.classes_],
            "n_dense": self.n_dense_,
            "inverse_temperature": self.inverse_temperature_,
            "none_score": self.none_score_,
            "word_terms": self.word_.terms_,
            "char_terms": self.char_.terms_,
        }
        (directory / "intent_model.json").write_text(json.dumps(meta, ensure_ascii=False))
        for name, array in {
            "word_idf": self.word_.idf_,
            "char_idf": self.char_.idf_,
            "coef": self.coef_,
            "intercept": self.intercept_,
        }.items():
            np.save(directory / f"{name}.npy", array, allow_pickle=False)

    @classmethod
    def load(cls, directory: Path) -> LinearIntentModel:
        """Read a model written by :meth:`save`."""
        meta = json.loads((directory / "intent_model.json").read_text())
        params = dict(meta["params"])
        params["word_ngram_range"] = tuple(params["word_ngram_range"])
        params["char_ngram_range"] = tuple(params["char_ngram_range"])
        model = cls(**params)
        model.classes_ = np.asarray(meta["classes"])
        model.n_dense_ = int(meta["n_dense"])
        model.inverse_temperature_ = float(meta["inverse_temperature"])
        model.none_score_ = float(meta["none_score"])
        model.word_, model.char_ = model._blocks()
        model.word_.terms_ = meta["word_terms"]
        model.char_.terms_ = meta["char_terms"]
        model.word_.idf_ = np.load(directory / "word_idf.npy", allow_pickle=False)
        model.char_.idf_ = np.load(directory / "char_idf.npy", allow_pickle=False)
        model.coef_ = np.load(directory / "coef.npy", allow_pickle=False)
        model.intercept_ = np.load(directory / "intercept.npy", allow_pickle=False)
        return model
