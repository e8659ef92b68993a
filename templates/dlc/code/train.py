"""Script-mode training for AWS's PyTorch Deep Learning Container.

SageMaker runs `docker run IMAGE train`. In a DLC, `train` is AWS's sagemaker-training toolkit: it reads
/opt/ml/input/config/*.json, sets the SM_* variables (SM_MODEL_DIR, SM_CHANNEL_TRAINING, SM_NUM_GPUS...; the
platform itself sets none), then runs SAGEMAKER_PROGRAM (this file, baked in at /opt/ml/code) with every
hyperparameter as a `--name value` argument. When this script fails, the toolkit writes /opt/ml/output/failure.
"""

import argparse
import csv
import json
import os
from pathlib import Path

import torch
from torch import nn


class IrisNet(nn.Module):
    """Standardise the measurements, then a small MLP. Saved with TorchScript: serving needs no class definition."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, n_classes: int):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.layers = nn.Sequential(nn.Linear(mean.numel(), 16), nn.ReLU(), nn.Linear(16, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers((x - self.mean) / self.std)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--model-dir", type=Path, default=Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model")))
    parser.add_argument("--training", type=Path,
                        default=Path(os.environ.get("SM_CHANNEL_TRAINING", "/opt/ml/input/data/training")))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"training on {device} (SM_NUM_GPUS={os.environ.get('SM_NUM_GPUS', '?')})")
    rows = []
    for path in sorted(p for p in args.training.rglob("*") if p.is_file() and not p.name.startswith(".")):
        with path.open(newline="") as f:
            rows.extend(row for row in csv.reader(f) if row)
    if not rows:
        raise ValueError(f"no CSV rows in {args.training}: is the training channel empty?")
    classes = sorted({row[0] for row in rows})
    x = torch.tensor([[float(value) for value in row[1:]] for row in rows])
    y = torch.tensor([classes.index(row[0]) for row in rows])
    model = IrisNet(x.mean(dim=0), x.std(dim=0), len(classes)).to(device)
    x, y = x.to(device), y.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(1, args.epochs + 1):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        if epoch % 20 == 0 or epoch == args.epochs:
            print(f"epoch {epoch}: loss {loss.item():.4f}")
    args.model_dir.mkdir(parents=True, exist_ok=True)
    torch.jit.script(model.cpu()).save(str(args.model_dir / "model.pt"))
    (args.model_dir / "classes.json").write_text(json.dumps(classes) + "\n")


if __name__ == "__main__":
    main()
