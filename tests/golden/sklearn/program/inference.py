"""Inference handlers, named and called as AWS's sagemaker-inference toolkit does (see serving.py).

input_fn and output_fn are not defined here, so the defaults in serving.py decode the request (CSV rows,
JSON, JSON Lines, NPY) and encode the answer in the Accept type (JSON when the caller accepts anything).
"""

import os

import joblib


def model_fn(model_dir: str):
    """Runs once per server worker; /ping answers 200 only after it returns."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    """The species of every row of four measurements (a JSON body may also be {"instances": [...]})."""
    rows = data["instances"] if isinstance(data, dict) else data
    return model.predict(rows).tolist()
