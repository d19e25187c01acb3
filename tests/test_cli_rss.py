"""``slth rss`` on the command line: tables, JSON, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from naive import best_subset_error

from slth import rss
from slth.cli import main


def test_solve_json_matches_brute_force(capsys):
    assert main(["rss", "solve", "--values", "0.5", "-0.3", "0.9", "0.25",
                 "--target", "0.7", "-0.1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    values = [0.5, -0.3, 0.9, 0.25]
    for row, target in zip(out["results"], [0.7, -0.1], strict=True):
        assert row["error"] == pytest.approx(best_subset_error(values, target), abs=1e-12)
        assert row["value"] == pytest.approx(sum(values[i] for i in row["subset"]))


def test_cover_table_and_json(capsys):
    assert main(["rss", "cover", "--n", "12", "--seed", "3"]) == 0
    table = capsys.readouterr().out
    assert "covering_radius" in table
    assert main(["rss", "cover", "--n", "12", "--seed", "3", "--json"]) == 0
    radius = json.loads(capsys.readouterr().out)["covering_radius"]
    from slth import distributions
    assert radius == rss.covering_radius(distributions.sample("uniform", 12, 3))


def test_min_samples_json_agrees_with_api(capsys):
    assert main(["rss", "min-samples", "--eps", "0.01", "--trials", "30", "--seed", "5",
                 "--dist", "uniform", "nsn", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["dist"] for r in rows] == ["uniform", "nsn"]
    for row in rows:
        n = rss.min_samples(0.01, row["dist"], trials=30, seed=5, progress=False)
        assert row["mean_n"] == pytest.approx(n.mean())
        assert row["max_n"] == n.max()
        assert row["lower_bound"] == 7


@pytest.mark.parametrize("argv, message", [
    (["rss", "min-samples", "--eps", "0"], "eps must lie in the open interval (0, 1)"),
    (["rss", "solve", "--values", "nan", "--target", "0"], "values must be finite"),
    (["rss", "cover", "--n", "3", "--interval", "1", "0"], "interval must satisfy lo < hi"),
])
def test_bad_input_exits_2_with_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "slth", "rss", "min-samples", "--eps", "0.05",
                          "--trials", "5", "--no-progress"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "uniform" in out.stdout and "lower_bound" in out.stdout
    assert np.isfinite(float(out.stdout.splitlines()[-1].split()[5]))
