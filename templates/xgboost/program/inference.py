"""Inference handlers, named and called as AWS's sagemaker-inference toolkit does (see serving.py).

input_fn and output_fn are not defined here, so the defaults in serving.py decode the request (CSV rows,
JSON, JSON Lines, NPY) and encode the answer in the Accept type (JSON when the caller accepts anything).
"""

import json
import os

import numpy as np
import xgboost


def model_fn(model_dir: str):
    """Runs once per server worker; /ping answers 200 only after it returns."""
    booster = xgboost.Booster()
    booster.load_model(os.path.join(model_dir, "model.json"))
    with open(os.path.join(model_dir, "classes.json")) as f:
        return booster, json.load(f)


def predict_fn(data, model):
    """The species of every row of four measurements (a JSON body may also be {"instances": [...]})."""
    booster, classes = model
    rows = np.asarray(data["instances"] if isinstance(data, dict) else data, dtype=float)
    # XGBoost reads absent trailing columns as missing values and still predicts: a row of 3 numbers would get a
    # species, so every row must have as many values as the model has features.
    if rows.ndim != 2 or rows.shape[1] != booster.num_features():
        raise ValueError(f"expected rows of {booster.num_features()} numbers, got an array of shape {rows.shape}")
    probabilities = booster.predict(xgboost.DMatrix(rows))
    return [classes[i] for i in probabilities.argmax(axis=1)]
