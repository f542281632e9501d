"""The trained scoring model: standardised features into a logistic regression.

Training uses scikit-learn; a trained model is kept as plain numbers (feature names,
means, scales, coefficients, intercept) so scoring is a dot product with numpy and a
stored model can never execute code the way a pickle could. A feature's contribution to
a score is ``coefficient x standardised value`` in log-odds; contributions of one
feature's columns (the one-hot columns of ``source``, say) add up to that feature's
impact, and ``intercept + sum of impacts`` is the log-odds of the score.

A lead's age is not learnt. The history is measured as of each decision, and wins are
decided sooner than losses drag on, so a model taught the age learns "young wins" and
then rewards every new lead for being new. Age is instead a fixed penalty added to the
log-odds (:func:`age_logit`): nothing for a month, then less and less, never a gain.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from bizos.modules.crm.scoring.features import LeadFeatures, log1p

KIND = "logistic_regression"
MAX_DAYS = 90.0
MAX_AGE_DAYS = 180.0
MIN_CATEGORY_COUNT = 3  # rarer categories share the "other" column
MAX_CATEGORIES = 20
CATEGORICAL = ("source", "industry", "country")
NUMERIC = (
    "employees_log",
    "employees_unknown",
    "activities_30d_log",
    "days_since_activity",
    "free_mail",
    "has_phone",
    "message_length_log",
    "title_seniority",
    "has_budget",
    "enriched",
)
# The share of the history a calibrated model scores at the hot threshold or above.
HOT_SHARE = 0.15
FOLDS = 5  # cross-validation folds for the held-out metrics
# Inverse strength of the L2 penalty on standardised columns: a few hundred outcomes and
# a few dozen columns (one per common source, industry, country) want a firm hand.
REGULARIZATION = 0.1
# Which way each signal may move a score: more of a +1 column never lowers it, more of
# a -1 column never raises it. Categories (source, industry, country) are free.
DIRECTION = {
    "employees_log": 1,
    "employees_unknown": -1,
    "activities_30d_log": 1,
    "days_since_activity": -1,
    "free_mail": -1,
    "has_phone": 1,
    "message_length_log": 1,
    "title_seniority": 1,
    "has_budget": 1,
    "enriched": 1,
}
# A column models trained by earlier releases carry; its learnt weight is left out.
RETIRED = ("lead_age_days",)
# Which explained feature each numeric column belongs to.
NUMERIC_GROUP = {
    "employees_log": "employees",
    "employees_unknown": "employees",
    "activities_30d_log": "engagement",
    "days_since_activity": "activity_recency",
    "free_mail": "email_domain",
    "has_phone": "phone",
    "message_length_log": "message",
    "title_seniority": "title",
    "has_budget": "budget",
    "enriched": "enrichment",
    "lead_age_days": "lead_recency",
}


def age_logit(lead_age_days: float) -> float:
    """The age penalty in log-odds, the trained model's counterpart of the rules'
    ``age_points``: 0 up to 30 days, -0.5 up to 90, -1 after."""
    if lead_age_days <= 30:
        return 0.0
    return -0.5 if lead_age_days <= 90 else -1.0


def column_group(column: str) -> str:
    return column.split("=", 1)[0] if "=" in column else NUMERIC_GROUP[column]


def _category(f: LeadFeatures, name: str) -> str:
    value = {"source": f.source, "industry": f.industry, "country": f.country}[name]
    return (value or "unknown").lower()


def _numeric(f: LeadFeatures) -> list[float]:
    return [
        log1p(f.employees or 0),
        0.0 if f.employees else 1.0,
        log1p(f.activities_30d),
        min(MAX_DAYS, f.days_since_activity) if f.days_since_activity is not None else MAX_DAYS,
        1.0 if f.free_mail else 0.0,
        1.0 if f.has_phone else 0.0,
        log1p(f.message_length),
        float(f.title_seniority),
        1.0 if f.has_budget else 0.0,
        1.0 if f.enriched else 0.0,
    ]


def columns_for(samples: Sequence[LeadFeatures]) -> list[str]:
    """The model's columns: numeric ones, then one-hot per common category + "other"."""
    out = list(NUMERIC)
    for name in CATEGORICAL:
        counts = Counter(_category(f, name) for f in samples)
        common = sorted(c for c, n in counts.most_common(MAX_CATEGORIES) if n >= MIN_CATEGORY_COUNT)
        out += [f"{name}={c}" for c in common] + [f"{name}=other"]
    return out


def vectorize(f: LeadFeatures, columns: Sequence[str]) -> list[float]:
    numeric = dict(zip(NUMERIC, _numeric(f), strict=True))
    numeric["lead_age_days"] = min(MAX_AGE_DAYS, f.lead_age_days)  # RETIRED
    known = {c for c in columns if "=" in c}
    row: list[float] = []
    for column in columns:
        if column in numeric:
            row.append(numeric[column])
            continue
        name, _, value = column.partition("=")
        mine = _category(f, name)
        if value == "other":
            row.append(0.0 if f"{name}={mine}" in known else 1.0)
        else:
            row.append(1.0 if mine == value else 0.0)
    return row


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A model as plain numbers (what ``ScoringModel.features``/``parameters`` hold)."""

    columns: list[str]
    means: list[float]
    scales: list[float]
    coefficients: list[float]
    intercept: float

    def parameters(self) -> dict[str, Any]:
        return {
            name: getattr(self, name) for name in ("means", "scales", "coefficients", "intercept")
        }

    @classmethod
    def load(cls, columns: Sequence[str], parameters: dict[str, Any]) -> StoredModel:
        model = cls(
            columns=list(columns),
            means=[float(v) for v in parameters["means"]],
            scales=[float(v) for v in parameters["scales"]],
            coefficients=[float(v) for v in parameters["coefficients"]],
            intercept=float(parameters["intercept"]),
        )
        n = len(model.columns)
        if not len(model.means) == len(model.scales) == len(model.coefficients) == n:
            raise ValueError("stored scoring model is inconsistent")
        return model

    def contributions(self, f: LeadFeatures) -> dict[str, float]:
        """Log-odds contribution of each explained feature (one-hot columns summed),
        and the age penalty as ``lead_recency``."""
        x = np.asarray(vectorize(f, self.columns))
        z = (x - np.asarray(self.means)) / np.asarray(self.scales)
        parts = np.asarray(self.coefficients) * z
        out: dict[str, float] = {}
        for column, part in zip(self.columns, parts.tolist(), strict=True):
            if column in RETIRED:
                continue
            group = column_group(column)
            out[group] = out.get(group, 0.0) + float(part)
        out["lead_recency"] = age_logit(f.lead_age_days)
        return out

    def probability(self, contributions: dict[str, float]) -> float:
        logit = self.intercept + sum(contributions.values())
        return 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, logit))))


@dataclass(frozen=True, slots=True)
class Trained:
    model: StoredModel
    metrics: dict[str, Any]


def _calibrated_intercept(fitted: _Fit, x: np.ndarray[Any, Any], hot_threshold: int) -> float:
    """The intercept that puts the hot threshold at the top :data:`HOT_SHARE` of the
    history: a lead scoring ``hot_threshold`` or more is as promising as the best
    sixth or so of the leads the tenant has had, however confident the model is.

    A balanced logistic regression centres its scores on 50 whatever its evidence; a
    weak model crowds them there and a confident one spreads them to the ends, so a
    fixed threshold would flag few leads or many. Only the intercept moves: the order
    of leads, the factors and the held-out metrics stay what was learnt.
    """
    logits = ((x - fitted.means) / fitted.scales) @ fitted.coefficients + fitted.intercept
    at_top = float(np.quantile(logits, 1.0 - HOT_SHARE))
    target = math.log(hot_threshold / (100.0 - hot_threshold)) if hot_threshold < 100 else 6.0
    return fitted.intercept + target - at_top


@dataclass(frozen=True, slots=True)
class _Fit:
    means: np.ndarray[Any, Any]
    scales: np.ndarray[Any, Any]
    coefficients: np.ndarray[Any, Any]  # 0 for a column left out
    intercept: float

    def probabilities(self, x: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        logits = ((x - self.means) / self.scales) @ self.coefficients + self.intercept
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logits, -500.0, 500.0))))


def _fit(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any], columns: Sequence[str]) -> _Fit:
    """A balanced logistic regression whose signals point the way they are meant to.

    A column of :data:`DIRECTION` that comes out pointing the other way (having no
    phone number "helps", say: noise in a small history) is left out and the rest is
    fitted again, until every signal's weight has its sign or is zero. So the absence
    of a signal can never lift a score above a lead that has it.
    """
    scaler = StandardScaler().fit(x)
    z = scaler.transform(x)
    keep = list(range(len(columns)))
    while True:
        classifier = LogisticRegression(C=REGULARIZATION, max_iter=2000, class_weight="balanced")
        classifier.fit(z[:, keep], y)
        weights = dict(zip(keep, classifier.coef_[0].tolist(), strict=True))
        wrong = [i for i, w in weights.items() if w * DIRECTION.get(columns[i], 0) < 0]
        if not wrong:
            break
        keep.remove(max(wrong, key=lambda i: abs(weights[i])))
    coefficients = np.zeros(len(columns))
    coefficients[keep] = classifier.coef_[0]
    return _Fit(
        means=np.asarray(scaler.mean_),
        scales=np.asarray(scaler.scale_),
        coefficients=coefficients,
        intercept=float(classifier.intercept_[0]),
    )


# Shuffles of the k-fold whose AUCs are averaged (see :func:`train`).
REPEATS = 5


def train(
    samples: Sequence[LeadFeatures],
    labels: Sequence[int],
    *,
    hot_threshold: int = 70,
    seed: int = 0,
) -> Trained:
    """Measure by stratified k-fold cross-validation (every outcome is scored once by
    a model that did not see it; AUC and accuracy over those held-out scores), then fit
    on everything for the model that is kept, calibrated by :func:`_calibrated_intercept`
    so that ``hot_threshold`` marks its best leads.

    Cross-validation rather than one 75/25 split: with a few hundred outcomes and a few
    dozen wins, the AUC of a single split swings by +-0.1 with the luck of the draw, so
    whether a tenant's model was used would too. The k-fold is repeated with
    :data:`REPEATS` shuffles and averaged: one shuffle's AUC still moves by +-0.04 with
    which outcomes share a fold (and so with the order the rows were read in)."""
    columns = columns_for(samples)
    x = np.asarray([vectorize(f, columns) for f in samples], dtype=float)
    y = np.asarray(labels, dtype=int)
    positives = int(y.sum())
    folds = max(2, min(FOLDS, positives, len(y) - positives))
    aucs: list[float] = []
    accuracies: list[float] = []
    for repeat in range(REPEATS):
        held_out = np.zeros(len(y))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + repeat)
        for train_rows, test_rows in splitter.split(x, y):
            fold = _fit(x[train_rows], y[train_rows], columns)
            held_out[test_rows] = fold.probabilities(x[test_rows])
        aucs.append(float(roc_auc_score(y, held_out)))
        accuracies.append(float(accuracy_score(y, held_out >= 0.5)))
    metrics: dict[str, Any] = {
        "auc": round(float(np.mean(aucs)), 4),
        "accuracy": round(float(np.mean(accuracies)), 4),
        "samples": len(y),
        "positives": positives,
        "folds": folds,
        "repeats": REPEATS,
        "train_samples": len(y) - len(y) // folds,
        "test_samples": len(y),
        "test_positives": positives,
    }
    fitted = _fit(x, y, columns)
    intercept = _calibrated_intercept(fitted, x, hot_threshold)
    metrics["hot_share"] = HOT_SHARE
    model = StoredModel(
        columns=columns,
        means=[float(v) for v in fitted.means],
        scales=[float(v) for v in fitted.scales],
        coefficients=[float(v) for v in fitted.coefficients],
        intercept=intercept,
    )
    return Trained(model=model, metrics=metrics)
