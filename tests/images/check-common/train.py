#!/usr/bin/env python3
"""A tiny SageMaker-style trainer: counts the `training` channel's files and writes /opt/ml/model/model.txt."""
import json
import os

data = "/opt/ml/input/data/training"
files = sorted(os.listdir(data)) if os.path.isdir(data) else []
with open("/opt/ml/input/config/hyperparameters.json") as f:
    hps = json.load(f)
os.makedirs("/opt/ml/model", exist_ok=True)
with open("/opt/ml/model/model.txt", "w") as f:
    f.write(json.dumps({"files": files, "hyperparameters": hps}))
print(f"trained on {len(files)} file(s)")
