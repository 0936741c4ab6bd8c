"""The README says what exists: every command and option in its examples (and in the benchmarks'
README) parses, and its layout names every module of the package."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harcnn.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BENCHMARKS_README = (ROOT / "benchmarks" / "README.md").read_text()


def readme_commands(readme: str = README) -> list[str]:
    """Every ``harcnn ...`` command line in the README's code (indented blocks, ``$`` prompts, continuations)."""
    commands, current = [], None
    for line in readme.splitlines():
        text = line.strip()
        if text.startswith("| `harcnn"):  # the commands table: its example column
            commands += re.findall(r"`(harcnn [^`]+)`", text.split("|")[3])
            continue
        if current is not None:
            current += " " + text.rstrip("\\").strip()
            if not text.endswith("\\"):
                commands.append(current)
                current = None
            continue
        if not (line.startswith("    ") or line.startswith("\t")):
            continue
        text = text.removeprefix("$ ")
        for part in text.split("&&"):
            part = part.strip()
            if part.startswith("harcnn "):
                if part.endswith("\\"):
                    current = part.rstrip("\\").strip()
                else:
                    commands.append(part)
    return commands


COMMANDS = readme_commands()
BENCHMARK_COMMANDS = readme_commands(BENCHMARKS_README)


def test_the_readme_has_examples_of_every_command():
    names = {shlex.split(c.split("#")[0])[1] for c in COMMANDS}
    assert {"data", "models", "evaluate", "study", "report", "leaderboard", "features", "train", "predict",
            "export"} <= names


@pytest.mark.parametrize("command", COMMANDS + BENCHMARK_COMMANDS)
def test_every_readme_command_parses(command, monkeypatch):
    import torch

    # `--device cuda` examples parse on machines without a GPU too (the option checks the machine)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    argv = shlex.split(command.split(" #")[0])[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit:
        pytest.fail(f"the README's `{command}` does not parse (exit {exit.code})")
    assert hasattr(args, "run"), command


def test_the_layout_section_names_every_module():
    layout = README.split("## Layout", 1)[1].split("```")[1]
    modules = sorted(p for p in (ROOT / "src" / "harcnn").rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    missing = [str(p.relative_to(ROOT / "src" / "harcnn")) for p in modules
               if not re.search(rf"\b{re.escape(p.stem)}(\.py|/)", layout)]
    assert missing == []
    folders = sorted(p.name for p in (ROOT / "src" / "harcnn").iterdir() if p.is_dir() and p.name != "__pycache__")
    assert [f for f in folders if f"{f}/" not in layout] == []


def readme_python_example() -> str:
    """The code block of the README's "Python API" section."""
    section = README.split("## Python API", 1)[1].split("\n## ", 1)[0]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_python_api_example_runs_as_written(tmp_path, monkeypatch):
    """In a folder where the walkthrough ran before: the example folder, and a model in models/mine."""
    from harcnn.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["data", "example", "my_recordings"]) == 0
    assert main(["train", "--data", "my_recordings", "--epochs", "1", "--filters", "4", "--dense-units", "8",
                 "--save", "models/mine", "--quiet"]) == 0
    example = readme_python_example()
    namespace: dict = {}
    exec(compile(example, "README.md (Python API)", "exec"), namespace)
    assert namespace["probabilities"].shape == (5, 4)
    save = next(line for line in example.splitlines() if "clf.save(" in line)
    exec(save, namespace)  # run again, it replaces the model it saved (overwrite=True), and nothing else
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["mine", "sklearn"]
