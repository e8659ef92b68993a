#!/usr/bin/env python3
"""A SageMaker Processing job's script: the image's ENTRYPOINT runs it as `python3 /opt/program/process.py ARGS`.

What SageMaker Processing provides and expects (ARGS are the job's ContainerArguments):
  /opt/ml/processing/input/<name>/         each input's files (its LocalPath; here the `raw` input)
  /opt/ml/processing/output/<name>/        each output: what the script writes here is uploaded to its S3Uri
                                           (when the job ends, or as files appear with S3UploadMode Continuous)
  /opt/ml/config/processingjobconfig.json  the job as requested: inputs, outputs, environment, arguments
  /opt/ml/config/resourceconfig.json       {"current_host": "algo-1", "hosts": ["algo-1", ...]}
  /opt/ml/output/message                   its first 1 KB becomes the job's ExitMessage, whatever the status
Exit code 0 means Completed, anything else Failed.

This one turns the CSV files of the `raw` input (a header row, the label in the first column) into what
SageMaker's built-in algorithms and smctl's train presets read: no header, the label first as a class index,
the features standardised, split into train/ and test/. stats/ keeps the classes and each feature's mean and
standard deviation, to standardise new data the same way.
"""

import argparse
import csv
import json
import os
import random
import statistics
import sys
import traceback
from pathlib import Path

# SageMaker always uses /opt/ml; SMCTL_OPT_ML exists only so tests can run this file outside a container.
OPT_ML = Path(os.environ.get("SMCTL_OPT_ML", "/opt/ml"))
INPUT = OPT_ML / "processing" / "input"
OUTPUT = OPT_ML / "processing" / "output"
RESOURCECONFIG = OPT_ML / "config" / "resourceconfig.json"
MESSAGE = OPT_ML / "output" / "message"


def parse_args(argv: list) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Standardise and split a labelled CSV dataset.")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="share of the rows that go to test/")
    parser.add_argument("--seed", type=int, default=42, help="seed of the shuffle before the split")
    args = parser.parse_args(argv)
    if not 0 < args.test_fraction < 1:
        raise ValueError(f"--test-fraction {args.test_fraction} is not between 0 and 1")
    return args


def current_host() -> str:
    """Every host names its files after itself, so several hosts never overwrite each other's uploads."""
    if RESOURCECONFIG.exists():
        return json.loads(RESOURCECONFIG.read_text())["current_host"]
    return "algo-1"


def read_rows(folder: Path) -> tuple:
    """The header and the rows of every CSV file in an input folder (SageMaker keeps the S3 names), in name order."""
    files = sorted(p for p in folder.rglob("*.csv") if p.is_file())
    if not files:
        raise ValueError(f"no CSV files in {folder}: is the input empty?")
    header, rows = None, []
    for path in files:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            first = next(reader, None)
            if first is None:
                continue
            if header is None:
                header = first
            elif first != header:
                raise ValueError(f"{path.name}: header {first} differs from the first file's {header}")
            for row in reader:
                if row and len(row) != len(header):
                    raise ValueError(f"{path.name} line {reader.line_num}: {len(row)} values, the header has "
                                     f"{len(header)}")
                if row:
                    rows.append(row)
    if not rows:
        raise ValueError(f"no data rows in the CSV files of {folder}")
    return header, rows


def process(header: list, rows: list, test_fraction: float, seed: int) -> tuple:
    """(train rows, test rows, stats): label as a class index, features standardised over all rows."""
    classes = sorted({row[0] for row in rows})
    features = range(1, len(header))
    columns = [[float(row[i]) for row in rows] for i in features]
    means = [statistics.fmean(column) for column in columns]
    stdevs = [statistics.pstdev(column) or 1.0 for column in columns]  # a constant column stays 0, never NaN
    table = [[classes.index(row[0])] + [round((float(row[i]) - means[i - 1]) / stdevs[i - 1], 6) for i in features]
             for row in rows]
    random.Random(seed).shuffle(table)
    n_test = round(len(table) * test_fraction)
    stats = {"features": header[1:], "classes": classes, "means": [round(m, 6) for m in means],
             "stdevs": [round(s, 6) for s in stdevs], "rows": {"train": len(table) - n_test, "test": n_test}}
    return table[n_test:], table[:n_test], stats


def write_csv(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def main(argv: list) -> int:
    try:
        args = parse_args(argv)
        host = current_host()
        header, rows = read_rows(INPUT / "raw")
        train, test, stats = process(header, rows, args.test_fraction, args.seed)
        write_csv(OUTPUT / "train" / f"train-{host}.csv", train)
        write_csv(OUTPUT / "test" / f"test-{host}.csv", test)
        (OUTPUT / "stats").mkdir(parents=True, exist_ok=True)
        (OUTPUT / "stats" / f"stats-{host}.json").write_text(json.dumps(stats, indent=2) + "\n")
        message, code = f"{host}: {len(rows)} rows -> {len(train)} train, {len(test)} test", 0
    except Exception:
        trace = traceback.format_exc()
        print(trace, file=sys.stderr)
        message, code = trace.strip().splitlines()[-1], 1  # "ValueError: ..." is what the ExitMessage shows
    print(message)
    MESSAGE.parent.mkdir(parents=True, exist_ok=True)
    MESSAGE.write_text(message)  # as is: ExitMessage shows it verbatim
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
