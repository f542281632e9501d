"""The trained scoring model: standardised features into a logistic regression.

Training uses scikit-learn; a trained model is kept as plain numbers (feature names,
means, scales, coefficients, intercept) so scoring is a dot product with numpy and a
stored model can never execute code the way a pickle could. A feature's contribution to
a score is ``coefficient x standardised value`` in log-odds; contributions of one
feature's columns (the one-hot columns of ``source``, say) add up to that feature's
impact, and ``intercept + sum of impacts`` is the log-odds of the score.
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
from sklearn.model_selection import train_test_split
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
    "lead_age_days",
)
# Which explained feature each numeric column belongs to.
NUMERIC_GROUP = {
    "employees_log": "employees",
    "employees_unknown": "employees",
    "activities_30d_log": "engagement",
    "days_since_activity": "activity_recency",
    "free_mail": "email_domain",
    "has_phone": "phone",
    "message_length_log": "message",
    "lead_age_days": "lead_recency",
}


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
        min(MAX_AGE_DAYS, f.lead_age_days),
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
            "means": self.means,
            "scales": self.scales,
            "coefficients": self.coefficients,
            "intercept": self.intercept,
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
        """Log-odds contribution of each explained feature (one-hot columns summed)."""
        x = np.asarray(vectorize(f, self.columns))
        z = (x - np.asarray(self.means)) / np.asarray(self.scales)
        parts = np.asarray(self.coefficients) * z
        out: dict[str, float] = {}
        for column, part in zip(self.columns, parts.tolist(), strict=True):
            group = column_group(column)
            out[group] = out.get(group, 0.0) + float(part)
        return out

    def probability(self, contributions: dict[str, float]) -> float:
        logit = self.intercept + sum(contributions.values())
        return 1.0 / (1.0 + math.exp(-max(-500.0, min(500.0, logit))))


@dataclass(frozen=True, slots=True)
class Trained:
    model: StoredModel
    metrics: dict[str, Any]


def _pipeline_parts(x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> tuple[Any, Any]:
    scaler = StandardScaler().fit(x)
    classifier = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
    classifier.fit(scaler.transform(x), y)
    return scaler, classifier


def train(samples: Sequence[LeadFeatures], labels: Sequence[int], *, seed: int = 0) -> Trained:
    """Fit on a stratified 75% split to measure AUC and accuracy on the held-out 25%,
    then refit on everything for the model that is kept."""
    columns = columns_for(samples)
    x = np.asarray([vectorize(f, columns) for f in samples], dtype=float)
    y = np.asarray(labels, dtype=int)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, random_state=seed, stratify=y
    )
    scaler, classifier = _pipeline_parts(x_train, y_train)
    probabilities = classifier.predict_proba(scaler.transform(x_test))[:, 1]
    metrics: dict[str, Any] = {
        "auc": round(float(roc_auc_score(y_test, probabilities)), 4),
        "accuracy": round(float(accuracy_score(y_test, probabilities >= 0.5)), 4),
        "samples": len(y),
        "positives": int(y.sum()),
        "train_samples": len(y_train),
        "test_samples": len(y_test),
        "test_positives": int(y_test.sum()),
    }
    scaler, classifier = _pipeline_parts(x, y)
    model = StoredModel(
        columns=columns,
        means=[float(v) for v in scaler.mean_],
        scales=[float(v) for v in scaler.scale_],
        coefficients=[float(v) for v in classifier.coef_[0]],
        intercept=float(classifier.intercept_[0]),
    )
    return Trained(model=model, metrics=metrics)
