"""Standardize → regularize → train: pipelines, λ search, evaluation, persistence."""

from l2vision.pipelines.build import ESTIMATORS, make_features, make_pipeline
from l2vision.pipelines.search import (
    LambdaAtEdgeWarning,
    LogisticRegressionKFoldCV,
    RidgeClassifierKFoldCV,
)

__all__ = [
    "ESTIMATORS",
    "LambdaAtEdgeWarning",
    "LogisticRegressionKFoldCV",
    "RidgeClassifierKFoldCV",
    "make_features",
    "make_pipeline",
]
