"""A folder of recordings as users lay it out: tables inside it, subjects in the labels table, columns it does not
use, recordings that lack a sensor, and what 'harcnn data info' says about every recording."""

from __future__ import annotations

import csv
import shutil

import pytest

from harcnn.cli import main
from harcnn.core.errors import DataError
from harcnn.data import load_dataset
from harcnn.data.example import write_example_recordings
from harcnn.data.recording_folder import grouped_notes


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_example_recordings(tmp_path_factory.mktemp("example") / "recs", people=2, recordings_per_person=2)


@pytest.fixture
def recs(pristine, tmp_path):
    """A copy of the example folder (person1/rec1 and person2/rec2 are per-sensor folders), free to edit."""
    return shutil.copytree(pristine, tmp_path / "recs")


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _table(path, extra: dict[str, callable]):
    """Rewrite a labels table with more columns: name -> function of the row."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, [*rows[0], *extra])
        writer.writeheader()
        writer.writerows({**row, **{k: f(row) for k, f in extra.items()}} for row in rows)


def test_a_labels_table_inside_the_folder_is_never_a_recording(capsys, recs, pristine):
    reference = load_dataset(pristine)
    (recs / "labels.csv").rename(recs / "segments.csv")  # main: "segments.csv: no time column found"
    code, out, err = run(capsys, "data", "info", "--data", recs, "--labels", recs / "segments.csv")
    assert code == 0 and f"fingerprint: {reference.fingerprint}" in out, err
    shutil.copy(recs / "segments.csv", recs / "person1" / "who.csv")
    (recs / "person1" / "who.csv").write_text("recording,subject\n" + "".join(
        f"{n},{n.split('/')[0]}\n" for n in ("person1/rec1", "person1/rec2", "person2/rec1", "person2/rec2")))
    data = load_dataset(recs, labels=str(recs / "segments.csv"), subjects=str(recs / "person1" / "who.csv"))
    assert data.fingerprint == reference.fingerprint and "subjects from who.csv" in data.notes


def test_a_subject_column_in_the_labels_table_gives_the_subjects(recs):
    flat = recs.parent / "flat"  # every recording at the top, so no folder names a person
    flat.mkdir()
    for name in ("person1/rec2", "person2/rec1"):
        shutil.copy(recs / f"{name}.csv", flat / f"{name.replace('/', '_')}.csv")
    with open(recs / "labels.csv", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["recording"] in ("person1/rec2", "person2/rec1")]
    with open(flat / "labels.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["recording", "start", "end", "label", "subject"])
        writer.writeheader()
        writer.writerows({**r, "recording": r["recording"].replace("/", "_"),
                          "subject": "ann" if r["recording"].startswith("person1") else "bo"} for r in rows)
    data = load_dataset(flat)  # main: "no subjects given: every recording counts as its own subject"
    assert sorted(data.subjects) == ["ann", "bo"]
    assert "labels from " in " ".join(data.notes) and "subjects from its subject column" in " ".join(data.notes)
    assert not any("no subjects given" in n for n in data.notes)
    with open(flat / "labels.csv", "a") as handle:
        handle.write("person1_rec2,200,201,walking,bo\n")
    with pytest.raises(DataError, match="recording person1_rec2 has two subjects, ann and bo"):
        load_dataset(flat)


def test_unknown_columns_of_a_labels_table_are_said(capsys, recs):
    _table(recs / "labels.csv", {"note": lambda row: "ok", "annotator": lambda row: "me"})
    code, out, err = run(capsys, "data", "info", "--data", recs)
    assert code == 0, err
    assert ("warning: " + str(recs / "labels.csv") + ": column(s) 'note', 'annotator' not used (a labels table has "
            "the columns start, end, label, recording, subject)") in err


def test_data_info_says_what_it_detected_for_every_recording(capsys, recs):
    code, out, err = run(capsys, "data", "info", "--data", recs)
    assert code == 0, err
    # main: the first recording only (person1/rec2's notes)
    assert "person1/rec2, person2/rec1: acc: no unit in the header; median magnitude 1 -> g" in out
    assert ("person1/rec1, person2/rec2: TotalAcceleration.csv: acc: no unit in the header; median magnitude "
            "9.8") in out
    assert "all 4 recordings: labels" not in out and f"labels from {recs / 'labels.csv'}" in out
    assert "quality: no suspect stretch in any recording" in out


def test_grouped_notes_give_ranges_of_the_numbers_that_differ():
    notes = {"a": ["time from 't' in s", "median magnitude 0.99 -> g"], "b": ["time from 't' in s",
                                                                           "median magnitude 1.02 -> g"],
             "c": ["time from 't' in ms", "median magnitude 1 -> g"]}
    assert grouped_notes(notes) == ["a, b: time from 't' in s", "all 3 recordings: median magnitude 0.99-1.02 -> g",
                                    "c: time from 't' in ms"]


def test_a_per_sensor_folder_lacking_the_gyroscope_names_it(capsys, recs):
    (recs / "person1" / "rec1" / "Gyroscope.csv").unlink()
    code, out, err = run(capsys, "data", "info", "--data", recs)  # main: "recording(s) 'person1/rec1' are not in ..."
    assert code == 0 and "6 channels" in out, err
    assert ("warning: recording person1/rec1 has no gyro (its folder has TotalAcceleration.csv only): using acc, which "
            "every recording has (--sensors acc says so; add the gyro file(s) to use gyro)") in err
    code, out, err = run(capsys, "data", "info", "--data", recs, "--sensors", "acc")
    assert code == 0 and "warning" not in err, err


def test_predict_on_a_per_sensor_folder_names_the_folder_and_a_missing_sensor(capsys, recs, tmp_path):
    code, _, err = run(capsys, "train", "--data", recs, "--epochs", 1, "--filters", 8, "--dense-units", 8,
                       "--save", tmp_path / "m", "--quiet")
    assert code == 0, err
    code, out, err = run(capsys, "predict", tmp_path / "m", recs / "person1" / "rec1", "--out", tmp_path / "p.csv")
    assert code == 0, err
    assert out.startswith("107 windows covering 138.2 s of rec1 (") and "TotalAcceleration.csv (" not in out
    (recs / "person1" / "rec1" / "Gyroscope.csv").unlink()
    code, out, err = run(capsys, "predict", tmp_path / "m", recs / "person1" / "rec1", "--out", tmp_path / "q.csv")
    assert code == 2 and "Traceback" not in err  # main: "recording TotalAcceleration has no labels"
    assert err == (f"harcnn: error: {recs / 'person1' / 'rec1'} has no gyro data, which this model needs (it reads "
                   "acc, gyro; the recording has acc)\n")


def test_a_folder_given_as_the_labels_table(capsys, recs):
    code, _, err = run(capsys, "data", "info", "--data", recs, "--labels", recs / "person1")
    assert code == 2 and err == (f"harcnn: error: --labels {recs / 'person1'}: is a folder; expected a labels table "
                                 "(a .csv with the columns recording, start, end, label)\n")  # main: "does not exist"
    code, _, err = run(capsys, "data", "info", "--data", recs, "--labels", recs / "absent.csv")
    assert code == 2 and "--labels " in err and "absent.csv: no such file" in err
