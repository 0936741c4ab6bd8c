"""harcnn.serving.timeline.scores: timelines, window spans, label tables and duration-weighted scores."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from harcnn.core.errors import DataError, HarcnnError
from harcnn.data.labels import Timeline, read_labels_table, window_spans
from harcnn.serving.timeline import (
    agreement,
    confusion_seconds,
    coverage,
    fragmentation,
    score_timeline,
    segment_scores,
    window_agreement,
)


def timeline(*segments) -> Timeline:
    starts, ends, labels = zip(*segments) if segments else ((), (), ())
    return Timeline(np.array(starts, float), np.array(ends, float), np.array(labels, dtype=str))


def as_tuples(t: Timeline):
    return [(float(a), float(b), str(c)) for a, b, c in zip(t.starts, t.ends, t.labels)]


# true: A 0-10, B 10-20, nothing 20-30, A 30-40.  pred covers 5-35 only, with an unknown stretch.
TRUE = timeline((0, 10, "A"), (10, 20, "B"), (30, 40, "A"))
PRED = timeline((5, 15, "A"), (15, 18, "B"), (18, 20, "unknown"), (20, 35, "A"))


def test_timeline_checks_and_merges():
    t = timeline((0, 1, "a"), (1, 2, "a"), (3, 4, "a"), (4, 5, "b"))
    assert as_tuples(t.merged()) == [(0, 2, "a"), (3, 4, "a"), (4, 5, "b")]
    assert t.duration == 4.0 and len(t) == 4
    with pytest.raises(HarcnnError, match="segment 1 .1-3 s. overlaps segment 0 .0-2 s."):
        timeline((0, 2, "a"), (1, 3, "b"))
    with pytest.raises(HarcnnError, match="segment 0 ends .1 s. before or at its start .1 s."):
        timeline((1, 1, "a"))
    with pytest.raises(HarcnnError, match="one start, end and label per segment"):
        Timeline(np.array([0.0]), np.array([1.0]), np.array(["a", "b"]))
    starts = np.array([0.0, 1.0])
    Timeline(starts, starts + 1, np.array(["a", "b"]))
    starts[0] = -1.0  # the caller's array is copied, not frozen


def test_window_spans_contiguous_and_with_a_gap():
    start = np.array([0.0, 1.0, 2.0, 6.0, 7.0])
    lo, hi, contiguous = window_spans(start, start + 2.0, step=1.0)
    np.testing.assert_array_equal(contiguous, [True, True, False, True])
    np.testing.assert_array_equal(lo, [0.0, 1.5, 2.5, 6.0, 7.5])
    np.testing.assert_array_equal(hi, [1.5, 2.5, 4.0, 7.5, 9.0])
    t = Timeline.from_windows(start, start + 2.0, ["a", "a", "b", "b", "b"], step=1.0)
    assert as_tuples(t) == [(0, 2.5, "a"), (2.5, 4, "b"), (6, 9, "b")]
    # irregular but overlapping windows (1.5 s apart, step 1 s): the overlap is split, no gap
    lo, hi, contiguous = window_spans(np.array([0.0, 1.5]), np.array([2.0, 3.5]), step=1.0)
    assert not contiguous[0] and hi[0] == lo[1] == 1.75
    with pytest.raises(HarcnnError, match="window 1 does not start after"):
        window_spans(np.array([0.0, 0.0]), np.array([2.0, 2.0]), 1.0)
    with pytest.raises(HarcnnError, match="one label per window"):
        Timeline.from_windows(start, start + 2.0, ["a"], step=1.0)


def test_window_spans_match_prediction():
    """The same spans as Prediction.window_spans, which will use this function."""
    from harcnn.serving.prediction import Prediction

    start = np.array([0.0, 1.28, 2.56, 3.84, 20.0, 21.28])
    prediction = Prediction(np.full((6, 2), 0.5), ("a", "b"), "x", "recording", start_times=start,
                            end_times=start + 2.56, step_seconds=1.28)
    for mine, theirs in zip(window_spans(start, start + 2.56, 1.28), prediction.window_spans()):
        np.testing.assert_array_equal(mine, theirs)


def test_agreement_with_gaps_and_partial_coverage():
    # covered true time: 5-10 A/A, 10-15 B/A, 15-18 B/B, 18-20 B/unknown, 30-35 A/A = 20 s, 13 s agree
    assert agreement(TRUE, PRED) == pytest.approx(13 / 20)
    assert coverage(TRUE, PRED) == pytest.approx(20 / 30)
    assert agreement(TRUE, TRUE) == 1.0 and coverage(TRUE, TRUE) == 1.0
    with pytest.raises(HarcnnError, match="do not overlap.*same clock"):
        agreement(TRUE, timeline((100, 200, "A")))


def test_confusion_seconds():
    expected = [[10, 0, 10],  # true A: 5-10 and 30-35 as A; 0-5 and 35-40 not covered
                [5, 3, 2]]    # true B: 10-15 as A, 15-18 as B, 18-20 unknown
    np.testing.assert_array_equal(confusion_seconds(TRUE, PRED, ["A", "B"]), expected)
    np.testing.assert_array_equal(confusion_seconds(TRUE, PRED, ["B"]), [[3, 7]])  # true A is left out
    np.testing.assert_array_equal(confusion_seconds(TRUE, timeline(), ["A", "B"]), [[0, 0, 20], [0, 0, 10]])


def test_window_agreement_ignores_unlabelled_windows():
    assert window_agreement(["A", None, "B", "", "B"], ["A", "A", "A", "B", "B"]) == pytest.approx(2 / 3)
    assert window_agreement(np.array([0, -1, 2]), np.array([0, 1, 1])) == 0.5
    with pytest.raises(HarcnnError, match="no window has a true label"):
        window_agreement([None], ["A"])


def test_segment_scores_tolerance():
    true = timeline((0, 10, "A"), (10, 20, "B"), (20, 30, "A"))
    inside = timeline((0, 11.5, "A"), (11.5, 20, "B"), (20, 30, "A"))
    assert segment_scores(true, inside, tolerance_s=2.0) == (1.0, 1.0, 1.0)
    assert segment_scores(true, inside, tolerance_s=1.0) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    outside = timeline((0, 12.01, "A"), (12.01, 20, "B"), (20, 30, "A"))
    assert segment_scores(true, outside, tolerance_s=2.0) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    # split pieces of one label are merged first
    assert segment_scores(true, timeline((0, 5, "A"), (5, 10, "A"), (10, 20, "B"), (20, 30, "A"))) == (1, 1, 1)
    flicker = timeline((0, 10, "A"), (10, 14, "B"), (14, 14.5, "A"), (14.5, 20, "B"), (20, 30, "A"))
    assert segment_scores(true, flicker) == pytest.approx((2 / 5, 2 / 3, 0.5))
    assert fragmentation(true, flicker) == (5 / 3, 5, 3)


def test_segment_matching_is_one_to_one():
    # both predicted A segments are within 5 s of the true one; the closer (cost 0.5) takes it
    true, pred = timeline((0, 4, "A")), timeline((0, 4.5, "A"), (5, 6, "A"))
    assert segment_scores(true, pred, tolerance_s=5.0) == pytest.approx((0.5, 1.0, 2 / 3))
    assert segment_scores(true, timeline()) == (0.0, 0.0, 0.0)


def test_score_timeline_to_dict():
    scores = score_timeline(TRUE, PRED, ["A", "B"], true_windows=["A", "B"], pred_windows=["A", "A"])
    d = json.loads(json.dumps(scores.to_dict()))
    assert d["agreement"] == pytest.approx(0.65) and d["coverage"] == pytest.approx(2 / 3)
    assert d["confusion_seconds"] == [[10, 0, 10], [5, 3, 2]] and d["classes"] == ["A", "B"]
    assert (d["n_true_segments"], d["n_pred_segments"], d["per_window"]) == (3, 4, 0.5)
    assert score_timeline(TRUE, PRED, ["A", "B"]).per_window is None
    with pytest.raises(HarcnnError, match="pass both true_windows and pred_windows"):
        score_timeline(TRUE, PRED, ["A", "B"], true_windows=["A"])


# ---------------------------------------------------------------------------------------- label tables


def test_read_labels_table(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("Start_s,end_s,activity\n10,20,WALKING\n0,10,SITTING\n\n25,30.5,WALKING\n")
    assert as_tuples(read_labels_table(path)) == [(0, 10, "SITTING"), (10, 20, "WALKING"), (25, 30.5, "WALKING")]
    path.write_text("recording,start,end,label\nr1,0,5,A\nr2,0,3,B\nr1,5,6,B\n")
    by_recording = read_labels_table(path)
    assert sorted(by_recording) == ["r1", "r2"]
    assert as_tuples(by_recording["r1"]) == [(0, 5, "A"), (5, 6, "B")]
    rows = [{"start_time": 0, "end_time": 1.5, "label": "A"}]
    assert as_tuples(Timeline.from_table(rows)) == [(0, 1.5, "A")]


@pytest.mark.parametrize("text, message", [
    ("begin,end,label\n0,1,A\n", r"no start column \(a labels table has start, end and label.*expected one of "
                                 r"start, start_s, start_time; found begin, end, label\)"),
    ("start,end,label\n0,1,A\nx,2,B\n", r"line 3, column 'start': 'x' is not a number"),
    ("start,end,label\n0,1,A\n2,2,B\n", r"line 3: end 2 s is not after start 2 s"),
    ("start,end,label\n0,5,A\n8,9,A\n4,6,B\n", r"line 4: segment 4-6 s overlaps the segment on line 2 \(0-5 s\)"),
    ("start,end,label\n0,1\n", r"line 2 has 2 field\(s\), but the header has 3"),
    ("start;end;label\n0,5;1,5;A\n1,5;1,5;B\n", r"line 3: end 1.5 s is not after start 1.5 s"),
    ("start,end,label\n0,inf,A\n", r"line 2: end 'inf' is not a finite number"),
])
def test_read_labels_table_errors(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataError, match=f"^{re.escape(str(path))}[:,] {message}"):
        read_labels_table(path)


def test_read_labels_table_missing_or_empty(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_labels_table(tmp_path / "absent.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="file is empty"):
        read_labels_table(tmp_path / "empty.csv")
    with pytest.raises(DataError, match="table, row 2: end 1 s is not after start 3 s"):
        Timeline.from_table([{"start": 0, "end": 1, "label": "a"}, {"start": 3, "end": 1, "label": "b"}])
