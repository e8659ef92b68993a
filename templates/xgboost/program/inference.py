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
    rows = data["instances"] if isinstance(data, dict) else data
    probabilities = booster.predict(xgboost.DMatrix(np.asarray(rows, dtype=float)))
    return [classes[i] for i in probabilities.argmax(axis=1)]
