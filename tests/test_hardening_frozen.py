"""Frozen baseline: a small run must reproduce the stored series. After an intended change to the model,
regenerate with `.venv/bin/python -m model.freeze` and commit tests/frozen/baseline_small.csv."""

from model import freeze


def test_small_baseline_matches_the_frozen_result():
    diffs = freeze.differences(freeze.current(), freeze.frozen())
    assert not diffs, ("the model's numbers changed; if intended, run `python -m model.freeze`:\n"
                       + "\n".join(diffs))
