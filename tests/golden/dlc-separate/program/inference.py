"""Inference handlers, named and called as AWS's sagemaker-inference toolkit does (see serving.py).

input_fn and output_fn are not defined here, so the defaults in serving.py decode the request (CSV rows,
JSON, JSON Lines, NPY) and encode the answer in the Accept type (JSON when the caller accepts anything).
"""

import json
import os

import torch


def model_fn(model_dir: str):
    """Runs once per server worker; /ping answers 200 only after it returns."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    net = torch.jit.load(os.path.join(model_dir, "model.pt"), map_location=device).eval()
    with open(os.path.join(model_dir, "classes.json")) as f:
        return net, json.load(f), device


def predict_fn(data, model):
    """The species of every row of four measurements (a JSON body may also be {"instances": [...]})."""
    net, classes, device = model
    rows = data["instances"] if isinstance(data, dict) else data
    with torch.no_grad():
        scores = net(torch.tensor(rows, dtype=torch.float32, device=device))
    return [classes[i] for i in scores.argmax(dim=1).tolist()]
