"""The settings schema: every setting checked the same way from the command line, config files and Python."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from harcnn.cli import main
from harcnn.core.settings import SHARED, Bool, Choice, Float, Int, Ints, SettingError
from harcnn.models import list_models
from harcnn.models.config import Config, model_settings, settings_for


def _all_settings():
    """(model, setting) for every setting: each model's own, and the shared ones with the cnn."""
    out = [("cnn", s) for s in SHARED.values()]
    for model in list_models():
        out += [(model, s) for s in model_settings(model).values()]
    return out


def _bad_values(setting):
    """(kind of mistake, value, what the message must say) for one setting."""
    kind, cases = setting.kind, []
    if isinstance(kind, (Int, Float, Ints)):
        cases.append(("wrong type", "abc", "takes"))
        low = kind.low
        if low is not None:
            cases.append(("out of range", str(low - 1), "takes"))
    if isinstance(kind, Int):
        cases.append(("not whole", "2.5", "takes an integer"))
    if isinstance(kind, (Int, Ints)) and getattr(kind, "high", None) is not None:
        cases.append(("too large", str(kind.high + 1), "takes"))
    if isinstance(kind, Float) and kind.high is not None:
        cases.append(("out of range", str(kind.high + 1), "takes a number in"))
    if isinstance(kind, Bool):
        cases.append(("wrong type", "maybe", "takes true or false"))
    if isinstance(kind, Choice):
        cases.append(("unknown choice", "nope", "takes one of"))
    return cases


CASES = [(model, setting, mistake, value, message) for model, setting in _all_settings()
         for mistake, value, message in _bad_values(setting)]


@pytest.mark.parametrize("model,setting,mistake,value,message", CASES,
                         ids=[f"{m}-{s.name}-{k}" for m, s, k, _, _ in CASES])
def test_every_bad_value_is_one_clear_error_in_python_and_config_files(tmp_path, model, setting, mistake, value,
                                                                       message):
    with pytest.raises(SettingError, match=f"setting {setting.name}=.* is not allowed: {setting.name} {message}"):
        Config.from_flat({"model": model, setting.name: value})
    path = tmp_path / "settings.toml"
    path.write_text(f'[settings]\nmodel = "{model}"\n{setting.name} = "{value}"\n')
    from harcnn.core.settings import read_settings_file

    with pytest.raises(SettingError, match=f"{setting.name} {message}"):
        Config.from_flat(read_settings_file(path)["settings"])


@pytest.mark.parametrize("model,setting,mistake,value,message", CASES[::3],
                         ids=[f"{m}-{s.name}-{k}" for m, s, k, _, _ in CASES[::3]])
def test_every_bad_value_is_one_clear_error_on_the_command_line(capsys, tmp_path, model, setting, mistake, value,
                                                                message):
    if isinstance(setting.kind, Bool):
        argv = ["--config", str(tmp_path / "s.toml")]
        (tmp_path / "s.toml").write_text(f'[settings]\n{setting.name} = "{value}"\n')
    else:
        argv = [f"--{setting.name.replace('_', '-')}", value]
    code = main(["evaluate", "--model", model, *argv, "--data", str(tmp_path / "nowhere"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and f"{setting.name} {message}" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unknown_settings_and_models_are_clear_errors(tmp_path):
    with pytest.raises(SettingError, match="unknown setting 'filterz' for model 'cnn'; its settings are: filters"):
        Config.from_flat({"filterz": 3})
    with pytest.raises(SettingError, match="unknown model 'nope'"):
        Config.from_flat({"model": "nope"})
    (tmp_path / "s.toml").write_text("[setings]\nepochs = 2\n")
    from harcnn.core.settings import read_settings_file

    with pytest.raises(SettingError, match="unknown top-level key 'setings'"):
        read_settings_file(tmp_path / "s.toml")


#: The one numeric setting without an upper bound: the data bounds it (check_trainable refuses holding out
#: every training subject), and any number of subjects below that is real use.
UNBOUNDED = {"validation_subjects"}


def test_every_numeric_setting_has_a_generous_upper_bound():
    for model, setting in _all_settings():
        kind = setting.kind
        if isinstance(kind, (Int, Float, Ints)) and setting.name not in UNBOUNDED:
            assert getattr(kind, "high", None) is not None, f"{model} {setting.name} takes any large number"


@pytest.mark.parametrize("option,value,message", [
    ("--epochs", "1e9", "setting epochs='1e9' is not allowed: epochs takes an integer from 1 to 10000"),
    ("--batch-size", "10000000", "batch_size takes an integer from 1 to 100000"),
    ("--filters", "1e6", "filters takes an integer from 1 to 4096"),
    ("--learning-rate", "1e3", "learning_rate takes a number in (0, 10]"),
    ("--augment-shift", "1e12", "augment_shift takes an integer from 0 to 100000"),
])
def test_absurd_values_are_one_clear_line_before_any_work(capsys, tmp_path, option, value, message):
    code = main(["evaluate", option, value, "--data", str(tmp_path / "nowhere"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.startswith("harcnn: error: setting"), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_models_command_shows_every_range(capsys):
    assert main(["models", "cnn"]) == 0
    out = capsys.readouterr().out
    assert "training epochs (an integer from 1 to 10000; default 10)" in out
    assert "filters of both convolutions (an integer from 1 to 4096; default 64)" in out
    assert main(["models", "multihead"]) == 0
    assert "a comma-separated list of integers from 1 to 1000; default 3,5,11" in capsys.readouterr().out


def test_values_are_converted_once_to_canonical_types():
    config = Config.from_flat({"model": "multihead", "epochs": "7", "weight_decay": 0, "standardize": "yes",
                               "kernel_sizes": "3, 5", "learning_rate": "3e-3", "lr": 0.003})
    assert config.values["epochs"] == 7 and isinstance(config.values["weight_decay"], float)
    assert config.values["standardize"] is True and config.values["kernel_sizes"] == [3, 5]
    assert config.learning_rate == 0.003


def test_settings_of_one_name_have_one_kind_in_every_model():
    kinds = {}
    for model in list_models():
        for name, setting in settings_for(model).items():
            kinds.setdefault(name, set()).add(type(setting.kind).__name__)
    assert {name: k for name, k in kinds.items() if len(k) > 1} == {}


def test_the_models_command_lists_models_and_their_settings(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in list_models()) and "filters=64" in out
    assert main(["models", "hybrid"]) == 0
    out = capsys.readouterr().out
    assert "--blocks" in out and "--augment-rotate" in out and "a number in [0, 180]" in out


def test_loading_a_saved_model_and_predicting_imports_no_sqlite_lock_or_executor(tmp_path):
    """The saved-model path stands alone: no SQLite, no flock (absent on Windows), no experiment code."""
    from conftest import make_uci_har_tree, train_on

    from harcnn.data import load_uci_har

    dataset = load_uci_har(make_uci_har_tree(tmp_path, n_train=12, n_test=6), cache_dir=tmp_path / "c")
    train_on(dataset, {"filters": 4, "dense_units": 8, "epochs": 1, "standardize": True}).save(tmp_path / "m")
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        from harcnn.serving.artifact import load_model
        from harcnn.serving.predict import predict_windows
        model = load_model({str(tmp_path / 'm')!r})
        prediction = predict_windows(model, np.zeros((3, 128, 9), np.float32))
        assert len(prediction) == 3
        # the command line too: building its parser (every command's options) and `harcnn predict`
        from harcnn.cli import main
        np.save({str(tmp_path / 'w.npy')!r}, np.zeros((3, 128, 9), np.float32))
        assert main(["predict", {str(tmp_path / 'm')!r}, {str(tmp_path / 'w.npy')!r}, "--out",
                     {str(tmp_path / 'p.csv')!r}, "--no-plot"]) == 0
        loaded = [m for m in ("sqlite3", "harcnn.experiments", "concurrent.futures.process") if m in sys.modules]
        # torch itself imports fcntl through subprocess on POSIX: no harcnn module on this path may
        ours = [m for m in sys.modules if m.startswith("harcnn")]
        for name in ours:
            source = open(sys.modules[name].__file__).read()
            loaded += [name + " imports " + lib for lib in ("fcntl", "sqlite3") if "import " + lib in source]
        print(",".join(loaded) or "none")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "none", result.stdout


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "--seed", "-1"], "--seed: must be >= 0"),
    (["evaluate", "--device", "foo"], "'foo' is not a torch device"),
    (["data", "info", "--data-kind", "recordings"], "recordings data needs a path: pass --data PATH"),
    (["data", "info", "--data-kind", "windows"], "windows data needs a path"),
    # one spelling per option: no abbreviations (--model was read as --models-per-batch)
    (["study", "custom", "--model", "hybrid", "--grid", "filters=16,32"], "unrecognized arguments: --model hybrid"),
    (["evaluate", "--validation", "5"], "unrecognized arguments: --validation 5"),
])
def test_bad_options_are_one_clear_line(capsys, argv, message):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors
        code = exit.code
    err = capsys.readouterr().err
    assert code != 0 and message in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name,content,message", [
    ("s.toml", b"[settings]\nepochs = \xff\n", "is not UTF-8 text"),
    ("s.yaml", b"settings: [epochs: 2\n", "is not valid"),
    ("s.toml", b"[settings\n", "is not valid"),
])
def test_unreadable_settings_files_are_one_clear_error(tmp_path, name, content, message):
    from harcnn.core.settings import read_settings_file

    (tmp_path / name).write_bytes(content)
    with pytest.raises(SettingError, match=message):
        read_settings_file(tmp_path / name)


def test_list_settings_take_one_number_and_grids_separate_their_lists_by_semicolons():
    from harcnn.cli.experiments import _grid_values

    assert Config.from_flat({"model": "multihead", "kernel_sizes": 5}).kernel_sizes == [5]
    assert _grid_values("kernel_sizes", "3,5;3,5,7") == ["3,5", "3,5,7"]
    assert _grid_values("kernel_sizes", "3,5") == ["3,5"]  # one configuration with two heads
    assert _grid_values("filters", "32,64") == ["32", "64"]


def test_a_leaderboard_takes_the_best_preset_for_every_model():
    import argparse

    from harcnn.cli.options import settings_from_args

    args = argparse.Namespace(preset="best", config=None, model=None)
    assert "model" in settings_from_args(args) and "model" not in settings_from_args(args, model=False)
    assert settings_from_args(args, model=False)["augment_yaw"] == 180.0


def test_bf16_on_a_cpu_without_native_bf16_gets_a_note(capsys, monkeypatch):
    from harcnn.cli import build_parser, options

    args = build_parser().parse_args(["evaluate", "--precision", "bf16"])
    monkeypatch.setattr(options, "native_bf16", lambda: False)
    assert options.settings_from_args(args)["precision"] == "bf16"
    assert "emulated and slower than fp32" in capsys.readouterr().err
    monkeypatch.setattr(options, "native_bf16", lambda: True)
    options.settings_from_args(args)
    assert capsys.readouterr().err == ""


# ------------------------------------------------------------------------------ config files: nothing ignored

GRID = "[settings]\nepochs = 1\n[grid]\nfilters = [8, 16]\n"
SPACE = "[space]\nepochs = [1, 2]\n"


@pytest.mark.parametrize("argv,text,message", [
    # a table the command does not read names the command that does
    (["evaluate"], GRID, "s.toml: a [grid] table is for 'harcnn study custom --config {s}' (a study of its "
                         "combinations); 'harcnn evaluate --config' reads [settings] only"),
    (["train", "--save", "{tmp}/m"], GRID, "'harcnn train --config' reads [settings] only"),
    (["leaderboard"], GRID, "a [grid] table is for 'harcnn study custom --config"),
    (["study", "standardize"], GRID, "'harcnn study standardize --config' reads [settings] only"),
    (["evaluate"], SPACE, "s.toml: a [space] table is for 'harcnn tune --space {s}' (a search); 'harcnn evaluate "
                          "--config' reads [settings] only"),
    (["study", "custom"], SPACE + "[grid]\nfilters = [8]\n", "'harcnn study custom --config' reads [settings] and "
                                                            "[grid] only"),
    (["tune", "--space", "{tmp}/space.toml"], SPACE, "'harcnn tune --config' reads [settings] only"),
    (["evaluate"], 'baseline = "filters=8"\n', "baseline names one configuration of a [grid] table"),
    (["study", "custom", "--grid", "filters=8,16"], GRID, "--grid and the [grid] table of"),
    # a bad value is an error even where an option overrides it
    (["evaluate", "--epochs", "2"], "[settings]\nepochs = 'abc'\n",
     "s.toml: setting epochs='abc' is not allowed: epochs takes an integer from 1 to 10000"),
    (["train", "--save", "{tmp}/m", "--epochs", "2"], "[settings]\nepochs = 0\n", "s.toml: setting epochs=0"),
    (["evaluate", "--model", "cnn"], "[settings]\nmodel = 'nope'\n", "s.toml: unknown model 'nope'"),
    (["evaluate", "--model", "cnn"], "[settings]\nmodel = 'lstm'\nhidden = 0\n", "s.toml: setting hidden=0"),
    (["evaluate", "--filters", "8"], "[settings]\nfilters = 1e9\n", "filters takes an integer from 1 to 4096"),
    (["leaderboard", "--dropout", "0.1"], "[settings]\ndropout = 2\n", "s.toml: setting dropout=2"),
    (["study", "kernels", "--learning-rate", "0.01"], "[settings]\nlr = -1\n", "s.toml: setting learning_rate=-1"),
    (["tune", "--space", "{tmp}/space.toml", "--batch-size", "8"], "[settings]\nbatch_size = 'x'\n",
     "s.toml: setting batch_size='x'"),
])
def test_nothing_in_a_config_file_is_ignored_silently(capsys, tmp_path, argv, text, message):
    (tmp_path / "s.toml").write_text(text)
    (tmp_path / "space.toml").write_text(SPACE)
    fill = {"s": str(tmp_path / "s.toml"), "tmp": str(tmp_path)}
    argv = [a.format(**fill) for a in argv]
    code = main([*argv, "--config", str(tmp_path / "s.toml"), "--data", str(tmp_path / "nowhere"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and message.format(**fill) in err, err  # before the data is read: nowhere is not reported
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_a_settings_file_names_and_describes_itself_and_is_read_by_any_command(tmp_path):
    from harcnn.core.settings import read_settings_file

    path = tmp_path / "s.toml"
    path.write_text('name = "quick"\ndescription = "one epoch"\n[settings]\nepochs = 1\nkernel = 5\n')
    data = read_settings_file(path, tables=("settings",), reader="harcnn evaluate --config")
    assert data["settings"] == {"epochs": 1, "kernel": 5} and data["name"] == "quick"
    path.write_text("[settings]\nfilters = 32\n[grid]\nkernel_size = [3, 5]\n")
    assert read_settings_file(path)["grid"] == {"kernel_size": [3, 5]}  # every table, by default


def test_errors_that_became_value_errors_keep_their_own_messages(tmp_path, monkeypatch):
    """SettingError and DataError are ValueErrors now: code that turns a ValueError into another message
    must not catch them."""
    from harcnn.core.errors import DataError
    from harcnn.core.settings import read_settings_file
    from harcnn.data.dataset import InputSpec

    assert issubclass(SettingError, ValueError) and issubclass(DataError, ValueError)
    (tmp_path / "s.yaml").write_text("settings:\n  epochs: 2\n")
    monkeypatch.setitem(sys.modules, "yaml", None)  # PyYAML not installed
    with pytest.raises(SettingError, match="needs PyYAML"):
        read_settings_file(tmp_path / "s.yaml")
    spec = {"sampling_rate": 50, "window": 128, "step": 64, "channels": ["a"], "units": [""], "classes": ["x"]}
    with pytest.raises(DataError, match="^input spec: need at least 2 distinct class names"):
        InputSpec.from_dict(spec)
