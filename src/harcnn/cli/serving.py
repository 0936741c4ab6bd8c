"""``harcnn train``, ``predict`` and ``export``: saved models (harcnn.serving.artifact, harcnn.serving.predict,
harcnn.serving.export)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from harcnn.cli.options import (
    READING_OPTIONS,
    add_data_options,
    add_execution_options,
    add_options,
    add_settings_options,
    check_output_of,
    config_from_args,
    data_options_of,
    frame_lines,
    load_data,
    positive_int,
)
from harcnn.core.errors import HarcnnError
from harcnn.data.sensorfiles import without_suffix


def add_commands(commands) -> None:
    train = commands.add_parser("train", help="train one model (or an ensemble of repeats) and save it")
    train.add_argument("--save", type=Path, required=True, metavar="DIR", help="the model folder to write")
    train.add_argument("--force", action="store_true", help="replace a model folder harcnn saved there before (never "
                                                            "anything else)")
    train.add_argument("--repeats", type=positive_int, default=1,
                       help="members: N > 1 saves an ensemble of N repeats, probabilities averaged (default 1)")
    train.add_argument("--test", default=None, metavar="WHICH",
                       help="the windows it is scored on after training: official (the dataset's test split; the "
                            "default where there is one), holdout:N (N test subjects), or none (train on every "
                            "window; the default otherwise)")
    train.add_argument("--timeline-data", type=Path, default=None, metavar="PATH",
                       help="labelled recordings of the model's classes whose activity sequences teach the timeline "
                            "smoother (default: the training data, when it comes from recordings)")
    add_data_options(train, protocol=False)
    add_settings_options(train)
    add_execution_options(train, batching=False, executors=False)
    train.set_defaults(run=_train)

    pretrain = commands.add_parser(
        "pretrain", help="self-supervised pretraining on unlabelled recordings (the arrow-of-time, permutation and "
                         "time-warp tasks of Yuan et al. 2024); the saved model is a starting point for --init")
    pretrain.add_argument("--save", type=Path, required=True, metavar="DIR", help="the model folder to write")
    pretrain.add_argument("--force", action="store_true", help="replace a model folder harcnn saved there before "
                                                               "(never anything else)")
    pretrain.add_argument("--copies", type=positive_int, default=1,
                          help="transformed copies of every window, each with its own pretext label (default 1)")
    add_data_options(pretrain, protocol=False)
    add_settings_options(pretrain)
    add_execution_options(pretrain, batching=False, executors=False)
    pretrain.set_defaults(run=_pretrain)

    predict = commands.add_parser("predict", help="predict activities of windows (.npy/.npz), a dataset (its test "
                                                  "split) or a CSV/Parquet recording")
    predict.add_argument("model", type=Path, metavar="MODEL", nargs="?", default=None,
                         help="a model folder from 'harcnn train --save', or a built-in model (builtin:phone); "
                              "default: the built-in model that fits the recording's sensors ('harcnn models "
                              "--builtin')")
    predict.add_argument("input", type=Path, metavar="INPUT",
                         help="windows .npy/.npz [n, window, channels]; a dataset zip/folder (its windows made as "
                              "the model's training windows were); or a recording .csv/.csv.gz/.parquet (a time "
                              "column and the sensors the model needs), or a folder of one file per sensor")
    predict.add_argument("--out", type=Path, metavar="FILE",
                         help="per-window predictions, .csv or .json (default <INPUT name>_predictions.csv); "
                              "segments go beside it as <name>_segments.<ext>")
    predict.add_argument("--plot", type=Path, metavar="PNG", help="timeline plot (default <out name>_timeline.png)")
    predict.add_argument("--no-plot", action="store_true", help="no timeline plot")
    predict.add_argument("--force", action="store_true", help="replace predictions, segments, scores and plots "
                                                              "harcnn wrote there before (never anything else)")
    timeline = predict.add_argument_group("timelines (recordings)")
    timeline.add_argument("--smooth", choices=["auto", "hmm", "median", "none"], default="auto",
                          help="smoothing over time: hmm (the model's smoother, learned from labelled recordings), "
                               "median (a majority vote over 5 windows) or none; auto: hmm where the model has one, "
                               "else median (default)")
    timeline.add_argument("--unknown", default="off", metavar="auto|THRESHOLD|off",
                          help="mark windows whose confidence is below a threshold as unknown: auto (the threshold "
                               "chosen on the model's validation subjects), a number in [0, 1], or off (default)")
    timeline.add_argument("--labels", type=Path, metavar="TABLE",
                          help="a table of true segments (start, end, label; and recording when it holds several): "
                               "score the timeline (agreement per second and window, segment F1, fragmentation, "
                               "confusion over time) and draw the true row in the plot")
    timeline.add_argument("--tolerance", type=float, default=2.0, metavar="SECONDS",
                          help="segment F1: how far a segment's start and end may be off (default 2 s)")
    add_options(predict.add_argument_group("reading recordings (each detected when not given; the output says what "
                                           "was assumed)"), READING_OPTIONS)
    predict.set_defaults(run=_predict)

    export = commands.add_parser("export", help="export a saved model to ONNX (optionally int8), verified with "
                                                "onnxruntime")
    export.add_argument("model", type=Path, metavar="DIR", help="a model folder from 'harcnn train --save'")
    export.add_argument("--onnx", type=Path, required=True, metavar="FILE", help="the ONNX file to write")
    export.add_argument("--int8", action="store_true",
                        help="also write a dynamically quantized int8 model beside it (<name>.int8.onnx)")
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    export.add_argument("--force", action="store_true", help="replace ONNX files harcnn exported there before (never "
                                                             "anything else)")
    export.add_argument("--data", type=Path, default=None,
                        help="a dataset whose windows check the export and give test accuracies (its test split "
                             "where it has one; default: random windows only; never downloads)")
    export.set_defaults(run=_export)


def _train(args: argparse.Namespace) -> int:
    from harcnn.serving.artifact import MODEL_FOLDER
    from harcnn.serving.train import split_for_training, timeline_sequences, train_model
    from harcnn.training.callbacks import Progress

    config = config_from_args(args)
    check_output_of(args, args.save, MODEL_FOLDER, "--save")
    dataset = load_data(args, progress=not args.quiet, init=config.init)
    train, test = split_for_training(dataset, args.test)
    members = f"an ensemble of {args.repeats} members" if args.repeats > 1 else "1 model"
    print(f"Training {members}: {config.model} ({config.describe()})")
    if test is not None:
        subjects = ", ".join(map(str, sorted(np.unique(test.subject).tolist())))
        scored = f"scoring on {len(test)} test windows of subjects {subjects}"
    else:
        scored = "no test windows (--test none)"
    print(f"on {len(train)} {dataset.name} windows ({dataset.source}); {scored}", flush=True)
    for line in frame_lines(dataset):
        print(line)
    callbacks = [] if args.quiet else [Progress(f"training {config.model}")]
    timeline_data = None
    if args.timeline_data is not None:
        timeline_data, left_out = timeline_sequences(args.timeline_data, train, test, data_options_of(args))
        for warning in timeline_data.warnings:
            print(f"warning: --timeline-data: {warning}", file=sys.stderr)
        if left_out:
            print(f"Timeline data: left out {left_out} windows of the test subjects")
    trained = train_model(config, train, repeats=args.repeats, seed=args.seed, test=test, device=args.device,
                          callbacks=callbacks, timeline_data=timeline_data)
    scores = trained.scores
    print(f"Trained in {scores['train_seconds']:.1f} s")
    if test is not None:
        if args.repeats > 1:
            listed = ", ".join(f"{100 * a:.2f}" for a in scores["member_test_accuracy"])
            print(f"Member test accuracies (%): {listed}")
            print(f"Ensemble test accuracy (averaged probabilities): {100 * scores['test_accuracy']:.2f}%")
        else:
            print(f"Test accuracy: {100 * scores['test_accuracy']:.2f}%")
    for note in trained.timeline.get("notes", []):
        print(f"Timeline smoother: {note}")
    path = trained.save(args.save, overwrite=args.force)
    weights = trained.metadata["weights"]
    print(f"Saved to {path} (weights {weights['bytes'] / 1e6:.2f} MB, sha256 {weights['sha256'][:12]})")
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from harcnn.data.pretext import pretext_dataset, unlabelled_windows
    from harcnn.serving.artifact import MODEL_FOLDER
    from harcnn.serving.train import train_model
    from harcnn.training.callbacks import Progress

    config = config_from_args(args)
    check_output_of(args, args.save, MODEL_FOLDER, "--save")
    windows = unlabelled_windows(args.data, args.data_kind, data_options_of(args), progress=not args.quiet)
    for warning in windows.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    data = pretext_dataset(windows, seed=args.seed, copies=args.copies)
    print(f"Pretraining {config.model} ({config.describe(only_changed=True) or 'its defaults'}) on the pretext tasks "
          f"of {len(data)} windows ({len(windows)} unlabelled windows of {len(windows.subjects)} subjects, "
          f"{windows.source})", flush=True)
    trained = train_model(config, data, seed=args.seed, device=args.device,
                          callbacks=[] if args.quiet else [Progress(f"pretraining {config.model}")])
    scores = trained.scores
    print(f"Trained in {scores['train_seconds']:.1f} s; pretext accuracy: training "
          f"{100 * scores['final_train_accuracy'][0]:.2f}%"
          + (f", validation subjects {100 * scores['validation_accuracy'][0]:.2f}%" if "validation_accuracy" in scores
             else " (hold subjects out with --validation-subjects N to see it on others)")
          + f" (chance {100 / len(data.class_names):.1f}%)")
    path = trained.save(args.save, overwrite=args.force)
    print(f"Saved to {path}: fine-tune it with --init {path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from harcnn.core.io import write_json
    from harcnn.core.outputs import check_outputs_differ
    from harcnn.reports.plots import FIGURE, timeline_plot
    from harcnn.serving.artifact import load_model
    from harcnn.serving.predict import predict_path, smoothing_for, truth_for, unknown_threshold
    from harcnn.serving.prediction import PREDICTIONS_FILE, SCORES_FILE, SEGMENTS_FILE, output_paths, write_prediction

    out = args.out
    if out is None:
        name = without_suffix(args.input.name)
        name = name.rsplit(".", 1)[0] if name.lower().endswith((".npy", ".npz", ".zip")) else name
        out = Path(f"{name}_predictions.csv")
    windows_path, segments_path = output_paths(out)  # check the extension before the work
    scores_path = windows_path.with_name(f"{windows_path.stem}_scores.json") if args.labels is not None else None
    plot = None if args.no_plot else (args.plot or windows_path.with_name(f"{windows_path.stem}_timeline.png"))
    outputs = [("--out", windows_path, PREDICTIONS_FILE), ("--out", segments_path, SEGMENTS_FILE),
               ("--out", scores_path, SCORES_FILE), ("--plot", plot, FIGURE)]
    for option, path, kind in outputs:
        if path is not None:
            check_output_of(args, path, kind, option)
    check_outputs_differ((option, path) for option, path, _ in outputs)
    reading = data_options_of(args).reading
    if args.model is not None:
        model = load_model(args.model)
        prediction = predict_path(model, args.input, reading)
    else:
        model, prediction = _predict_with_builtin(args.input, reading)
    scores = None
    if prediction.has_times:
        prediction.decide(smoothing_for(model, args.smooth), hmm=model.timeline.get("hmm"),
                          unknown=unknown_threshold(args.unknown, model))
        if args.labels is not None:
            scores = prediction.score(truth_for(args.labels, args.input), tolerance_s=args.tolerance)
    elif args.smooth not in ("auto", "none") or args.unknown != "off" or args.labels is not None:
        raise HarcnnError(f"{args.input}: --smooth, --unknown and --labels are for recordings (windows in time order); "
                          "this input's windows are independent")
    print(prediction.summary())
    written = list(write_prediction(prediction, out, overwrite=args.force))
    if scores is not None:
        print(scores.summary())
        written.append(write_json(scores_path, scores.to_dict()))
    if plot is not None:
        written.append(timeline_plot(prediction, plot))
    print("Wrote " + ", ".join(str(p) for p in written))
    return 0


def _predict_with_builtin(path: Path, reading):
    """``(model, prediction)`` of a recording by the built-in model that fits its sensors (said on stdout)."""
    from harcnn.data.sources import input_kind
    from harcnn.models.saved import builtin_names
    from harcnn.serving.builtin import builtin_model_for
    from harcnn.serving.predict import predict_recording, read_recording, recording_quality

    if input_kind(path) != "recording":
        raise HarcnnError(f"{path}: give a model for windows and datasets: harcnn predict MODEL {path} (a model "
                          "folder, or builtin:phone); only a recording is predicted without one")
    recording = read_recording(path, reading)
    model = builtin_model_for(recording)
    if model is None:
        names = ", ".join(f"builtin:{n}" for n in builtin_names()) or "none in this installation"
        raise HarcnnError(f"{path}: no built-in model reads its sensors ({', '.join(recording.sensor_names)}; "
                          f"built-in: {names}): give a model, harcnn predict MODEL {path}")
    print(f"Model: the built-in model {model.describe()}, for the recording's {' and '.join(recording.sensor_names)} "
          "('harcnn models --builtin' shows its card)")
    return model, predict_recording(model, recording, quality=recording_quality(model, reading))


def _export(args: argparse.Namespace) -> int:
    from harcnn.serving.artifact import load_model
    from harcnn.serving.export import (
        ONNX_FILE,
        TOLERANCE,
        export_onnx,
        onnx_predict_proba,
        onnx_session,
        quantize_int8,
        require_onnx,
    )

    require_onnx()
    if args.onnx.suffix.lower() != ".onnx":
        raise HarcnnError(f"{args.onnx}: the ONNX file name must end in .onnx")
    int8_path = args.onnx.with_name(f"{args.onnx.stem}.int8.onnx") if args.int8 else None
    for path in (args.onnx, int8_path):
        if path is not None:
            check_output_of(args, path, ONNX_FILE, "--onnx")
    model = load_model(args.model)
    test = None
    if args.data is not None:
        from harcnn.serving.predict import load_like_training

        dataset = load_like_training(model, args.data)
        test = dataset.test if dataset.split is not None else dataset
    result = export_onnx(model, args.onnx, opset=args.opset, check_windows=None if test is None else test.X,
                         overwrite=args.force)
    print(f"Exported {model.describe()} to {result.path} ({result.bytes / 1e6:.2f} MB, opset {result.opset})")
    print(f"  input 'windows' float32 [batch, {model.window}, {model.n_channels}]: raw windows "
          f"({'standardization inside the graph' if model.standardizer else 'no standardization'}); "
          f"output 'probabilities' [batch, {model.n_classes}]")
    if (model.spec.preprocessing or {}).get("frame") == "body":
        print("  its windows are made in the body frame: turn a recording into it before the preprocessing "
              "(harcnn.data.recordings.to_body_frame; live, harcnn.data.bodyframe.StreamingBodyFrame)")
    checked = "random" if test is None else f"random + {len(test)} dataset"
    print(f"Verified with onnxruntime on {result.n_checked} windows ({checked}): "
          f"max abs difference {result.max_abs_diff:.2e} (limit {TOLERANCE:.0e})")
    sessions = {"ONNX fp32": result.path}
    if args.int8:
        int8 = quantize_int8(result.path, int8_path, overwrite=args.force)
        print(f"Quantized (dynamic int8) to {int8} ({int8.stat().st_size / 1e6:.2f} MB)")
        sessions["ONNX int8"] = int8
    if test is None:
        print("Accuracy skipped: no dataset given (pass --data)")
        return 0
    accuracies = {"PyTorch": model.score(test.X, test.y)}
    for label, path in sessions.items():
        predicted = onnx_predict_proba(onnx_session(path), test.X).argmax(axis=1)
        accuracies[label] = float((predicted == test.y).mean())
    print(f"Accuracy ({len(test)} windows): " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in accuracies.items()))
    return 0

