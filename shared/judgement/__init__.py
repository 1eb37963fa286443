"""Judgement learned from a city's own history: the free-text classifier (`TextModel`) and its store."""

from shared.judgement.store import catalogue_rows, label_codes, model_for, training_rows
from shared.judgement.text_model import PARAMS, TextModel, fold_text

__all__ = ["PARAMS", "TextModel", "catalogue_rows", "fold_text", "label_codes", "model_for", "training_rows"]
