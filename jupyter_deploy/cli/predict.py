"""``predict``: run a version of a deployment over a CSV, Parquet or JSON Lines file, in this process."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_json, add_root, emit


def register(subparsers: argparse._SubParsersAction) -> None:
    predict = subparsers.add_parser(
        "predict",
        help="batch prediction: a deployment's predictor over a CSV, Parquet or JSON Lines file",
        description=(
            "Run the rows of INPUT through deployments/NAME/vN/predictor.py (the current version unless "
            "NAME@vN says otherwise) in this process, BATCH_SIZE rows per predict call, and write the "
            "predictions beside the input's key columns to OUTPUT (format by suffix: .csv, .parquet, .jsonl). "
            "Feature columns come from example_input: a DataFrame's columns by name; for a tensor or array of "
            "shape [N, F], the F columns that are not keys. Completed rows are checkpointed in .OUTPUT.partial/: "
            "run the same command again after an interruption and it continues where it stopped."
        ),
    )
    predict.add_argument("spec", metavar="NAME[@vN]", help="deployment, optionally with a version")
    predict.add_argument("input", type=Path, metavar="INPUT", help="rows to predict: .csv, .parquet or .jsonl")
    predict.add_argument("--output", "-o", type=Path, required=True, help="where the predictions go (by suffix)")
    predict.add_argument("--batch-size", type=int, default=1024, help="rows per predict call (default 1024)")
    predict.add_argument(
        "--key",
        action="append",
        dest="keys",
        metavar="COL",
        help="input column copied beside the predictions (repeat); default: every column that is not a feature, "
        "or the row's position ('row') when there is none",
    )
    predict.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    predict.add_argument(
        "--checkpoint-every",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="checkpoint completed rows at most this often (default 2; 0: after every batch)",
    )
    add_root(predict)
    add_json(predict)
    predict.set_defaults(handler=run_predict)


def run_predict(args: argparse.Namespace) -> int:
    import sys

    from ..batch.run import BatchRequest, predict_file

    request = BatchRequest(
        root=args.root,
        spec=args.spec,
        input=args.input,
        output=args.output,
        batch_size=args.batch_size,
        keys=args.keys,
        overwrite=args.overwrite,
        progress=not args.json,
        checkpoint_seconds=args.checkpoint_every,
        notify=lambda message: print(f"jupyter-deploy: note: {message}", file=sys.stderr),
    )
    result = predict_file(request)
    resumed = f", {result['resumed_rows']} resumed from checkpoints" if result["resumed_rows"] else ""
    text = (
        f"wrote {result['output']}: {result['rows']} rows predicted by {result['name']} {result['version']}"
        f"{resumed} in {result['seconds']:.1f} s"
    )
    emit(args, result, text)
    return 0
