"""Inference handlers, named and called as AWS's sagemaker-inference toolkit does (see serving.py).

input_fn and output_fn are not defined here, so the defaults in serving.py decode the request (CSV rows,
JSON, JSON Lines, NPY) and encode the answer in the Accept type (JSON when the caller accepts anything).
"""

import json
import math
import os


def model_fn(model_dir: str):
    """Runs once per server worker; /ping answers 200 only after it returns."""
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)


def predict_fn(data, model):
    """One number per input row: its distance to the column means learnt by `train`.

    The rows are checked first (a bad one is a 500 before any output), then the answers are a generator: for
    Accept text/csv or application/jsonlines serving.py streams each line as it is computed (smctl invoke --stream,
    InvokeEndpointWithResponseStream); for JSON and NPY it gathers them first. A model that produces tokens
    (a language model) yields each token the same way.
    """
    means = model["means"]
    rows = data["instances"] if isinstance(data, dict) else data
    if len(rows) and not hasattr(rows[0], "__len__"):
        rows = [rows]  # a single row
    for row in rows:
        if len(row) != len(means):
            raise ValueError(f"a row has {len(row)} values; the model was trained on {len(means)} columns")
    numbers = [[float(v) for v in row] for row in rows]
    return (round(math.dist(row, means), 4) for row in numbers)
