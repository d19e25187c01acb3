"""Sufficient widths: the search against a scan of every n, implied constants, lemmas."""

from __future__ import annotations

import json

import numpy as np
import pytest

from slth import bounds, rss
from slth.experiments.registry import CONSTRUCTIONS, run_config
from slth.experiments.slack import (
    lemma_slack,
    required_passes,
    slack_table,
    smallest_passing,
    ticket_slack,
)
from slth.verify import check


@pytest.mark.parametrize("n_max", [1, 2, 7, 16, 33, 100])
def test_smallest_passing_finds_every_threshold_of_a_monotone_predicate(n_max):
    for threshold in range(1, 120):
        calls = []
        got = smallest_passing(lambda n, t=threshold, c=calls: c.append(n) or n >= t, n_max)
        assert got == (threshold if threshold <= n_max else None)
        assert all(1 <= n <= n_max for n in calls)
        assert len(calls) <= 2 * int(np.log2(n_max)) + 3          # doubling + bisection


def test_smallest_passing_on_a_non_monotone_predicate_ends_at_a_boundary():
    rng = np.random.default_rng(0)
    for _ in range(200):
        passes = rng.random(64) < 0.4
        got = smallest_passing(lambda n, p=passes: bool(p[n - 1]), 64)
        if got is None:
            assert not passes[-1]
        else:
            assert passes[got - 1] and (got == 1 or not passes[got - 2])


def _scan(experiment, n_values, eps, seeds, target_seed=0, samples=64, starts=1):
    """Certified and empirical passes at every n, built and checked here, loop by loop."""
    c = CONSTRUCTIONS[experiment]
    config = {"widths": [2, 2, 1], "activation": c.activations[0], "eps": eps, "delta": 0.1,
              "C": 3.0, "dist": c.dists[0]}
    target = c.make_target(config, np.random.SeedSequence(target_seed))
    out = {}
    for n in n_values:
        cert = emp = 0
        for s in range(seeds):
            t = c.build(target, config, n, np.random.SeedSequence(target_seed, spawn_key=(1, s)),
                        None)
            r = check(t, samples=samples, starts=starts,
                      seed=np.random.SeedSequence(target_seed, spawn_key=(2, s)))
            cert += r.certified <= eps
            emp += r.empirical <= eps
        out[n] = [cert, emp]
    return out


@pytest.mark.parametrize("experiment", ["pensia", "burkholz", "fischer_burkholz"])
def test_ticket_slack_against_a_scan_of_every_n(experiment):
    eps, seeds = 0.2, 3
    row = ticket_slack(experiment, [2, 2, 1], eps, seeds=seeds, samples=64, starts=1)
    assert row.certified_n is not None and row.empirical_n is not None
    scan = _scan(experiment, range(1, row.certified_n + 1), eps, seeds)
    for n, passes in row.evaluations.items():     # the search's counts are the scan's
        if n in scan:
            assert passes == scan[n]
    need = required_passes(seeds, 0.1)
    cert_ok = [n for n in scan if scan[n][0] >= need]
    emp_ok = [n for n in scan if scan[n][1] >= need]
    assert scan[row.certified_n][0] >= need
    assert row.certified_n == 1 or scan[row.certified_n - 1][0] < need
    assert scan[row.empirical_n][1] >= need
    assert row.empirical_n == 1 or scan[row.empirical_n - 1][1] < need
    if cert_ok == list(range(cert_ok[0], row.certified_n + 1)):   # monotone: the smallest
        assert row.certified_n == cert_ok[0]
    if emp_ok == list(range(emp_ok[0], row.certified_n + 1)):
        assert row.empirical_n == emp_ok[0]
    assert row.empirical_n <= row.certified_n or row.empirical_n is None
    # the implied constant gives the certified n back through the formula
    formula = bounds.FORMULAS[experiment]
    target_widths = [2, 2, 1]
    assert formula.n(target_widths, eps, 0.1, C=row.implied_C) == row.certified_n
    assert row.ratio == pytest.approx(row.formula_n / row.certified_n)
    assert row.formula_n == formula.n(target_widths, eps, 0.1)
    assert "formula" in row.formula and "calibration" in row.formula and not row.nested


@pytest.mark.parametrize("eps", [0.1, 0.02])
def test_lemma_slack_is_the_quantile_of_the_exact_per_trial_widths(eps):
    trials, delta = 60, 0.1
    row = lemma_slack("rss", eps, delta, trials=trials, seed=3)
    ns = np.sort(rss.min_samples(eps, "uniform", trials=trials, seed=3, progress=False))
    need = required_passes(trials, delta)
    assert row.certified_n == row.empirical_n == ns[need - 1]
    assert np.sum(ns <= row.certified_n) >= need > np.sum(ns <= row.certified_n - 1)
    assert row.lower_n == bounds.counting_lower_n(eps) <= ns.min()
    assert bounds.FORMULAS["rss"].n(eps, delta, C=row.implied_C) == row.certified_n
    assert row.nested and row.formula_n == bounds.rss_n(eps, delta)


def test_mrss_slack_and_its_counting_bound():
    row = lemma_slack("mrss", 0.2, d=2, trials=20, seed=1)
    assert row.lower_n == bounds.counting_lower_n(0.2, 2) <= row.certified_n
    assert bounds.FORMULAS["mrss"].n(0.2, 2, C=row.implied_C) == row.certified_n
    assert "placeholder" in row.formula


def test_slack_as_a_sweep_task_and_its_table():
    out = run_config({"experiment": "slack", "of": "rss", "eps": 0.05, "delta": 0.1,
                      "widths": None, "activation": None, "kernel": None, "trials": 40,
                      "seed": 0, "C": None, "n_max": None, "samples": 64, "starts": 1,
                      "d": 1, "dist": None})
    json.dumps(out)
    assert out["of"] == "rss" and out["theorem"].startswith("RSS lemma")
    line = slack_table([out])[0]
    assert line["formula_n"] == bounds.rss_n(0.05, 0.1) and line["lower_n"] == 5
    missing = {**out, "certified_n": None, "empirical_n": None, "ratio": None,
               "implied_C": None}
    assert slack_table([missing])[0]["certified_n"] == f"> {out['n_max']}"


def test_slack_refuses_what_it_cannot_search():
    with pytest.raises(ValueError, match="ticket construction"):
        ticket_slack("rss", eps=0.1)
    with pytest.raises(ValueError, match="'rss' or 'mrss'"):
        lemma_slack("pensia", 0.1)
    with pytest.raises(ValueError, match="eps"):
        ticket_slack("pensia", eps=1.5)
    with pytest.raises(ValueError, match="seeds"):
        ticket_slack("pensia", eps=0.1, seeds=0)


def test_cli_slack_prints_a_table_with_the_formulas(tmp_path, capsys):
    from slth.cli import main

    assert main(["slack", "--of", "rss", "--eps", "0.1", "--trials", "30", "--out",
                 str(tmp_path), "--no-progress", "--workers", "1"]) == 0
    text = capsys.readouterr().out
    assert "formula n" in text and "C*" in text
    assert f"formula n: {bounds.FORMULAS['rss'].label()}" in text
    assert (tmp_path / "slack.png").exists()
    assert main(["slack", "--of", "rss", "--eps", "0.1", "--trials", "30", "--out",
                 str(tmp_path), "--no-progress", "--workers", "1", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["rows"][0]["of"] == "rss" and payload["failures"] == []
