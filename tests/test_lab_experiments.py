"""Search against construction in sweeps: experiments lab_subset_sum and lab_teacher_student
(slth.experiments.lab), their table and figures."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from slth.experiments import EXPERIMENTS, Store, Sweep, run, run_config
from slth.experiments.lab import (
    EPS_LEVELS,
    format_widths_table,
    mask_iou,
    smallest_widths,
)

ROOT = Path(__file__).resolve().parents[1]

# CI sizes: the source at 1/16 of the formula's width, a few steps, few check inputs
SMALL = {"experiment": "lab_teacher_student", "width_factor": 0.0625, "steps": 15,
         "train_samples": 128, "batch": 64, "samples": 64, "starts": 1}


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _without_timings(result: dict) -> dict:
    return {k: v for k, v in result.items()
            if k not in ("timings", "seconds_per_step", "seconds_per_target")}


def _task(**fields) -> dict:
    return Sweep([fields]).tasks()[0].config


def test_registered_and_importing_experiments_never_imports_torch():
    for name in ("lab_subset_sum", "lab_teacher_student"):
        assert EXPERIMENTS[name].family == "lab"
    out = subprocess.run([sys.executable, "-c", "import sys, slth.experiments, "
                          "slth.experiments.plots\nprint('torch' in sys.modules)"], cwd=ROOT,
                         capture_output=True, text=True, env={"PYTHONPATH": str(ROOT),
                                                              "PATH": ""}, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("fields, match", [
    ({"experiment": "lab_subset_sum"}, "field 'n' is required"),
    ({"experiment": "lab_subset_sum", "n": 0}, "n must be >= 1"),
    ({"experiment": "lab_subset_sum", "n": 8, "lam": -1.0}, "lam must be >= 0"),
    ({"experiment": "lab_teacher_student", "density": 0.0}, "density must be a fraction"),
    ({"experiment": "lab_teacher_student", "density": "half"}, "'constructed'"),
    ({"experiment": "lab_teacher_student", "searcher": "imp"}, "searcher must be one of"),
    ({"experiment": "lab_teacher_student", "activation": "tanh"},
     "activation 'tanh' is not offered on the pensia source"),
    ({"experiment": "lab_teacher_student", "searcher": "gem_miner", "scope": "global"},
     "scope 'global' is edge-popup's"),
    ({"experiment": "lab_teacher_student", "n": 4, "width_factor": 0.5},
     "either 'n' or 'width_factor'"),
    ({"experiment": "lab_teacher_student", "support": "planted"}, "support must be one of"),
])
def test_bad_params_are_refused_naming_the_field(fields, match):
    with pytest.raises(ValueError, match=match):
        Sweep([fields])


def test_tanh_is_offered_on_the_depth_L_plus_1_source():
    config = _task(experiment="lab_teacher_student", construction="burkholz",
                   activation="tanh")
    assert config["activation"] == "tanh" and config["density"] == "constructed"


def test_mask_iou_against_a_hand_computed_value():
    a = [np.array([[True, True, False], [False, True, False]]), np.array([True, False])]
    b = [np.array([[True, False, False], [True, True, False]]), np.array([True, True])]
    # both keep (0,0), (1,1) and the first bias: 3; either keeps 6
    assert mask_iou(a, b) == 0.5
    assert mask_iou(a, a) == 1.0
    assert mask_iou([np.zeros(3, bool)], [np.zeros(3, bool)]) == 1.0
    assert mask_iou([np.ones(2, bool)], [np.zeros(2, bool)]) == 0.0
    with pytest.raises(ValueError, match="differ in shape"):
        mask_iou([np.ones(2, bool)], [np.ones(3, bool)])
    with pytest.raises(ValueError, match="one mask per parameter"):
        mask_iou(a, b[:1])


def test_subset_sum_rounded_is_never_better_than_brute_force(torch):
    from slth import distributions
    from slth._validate import as_seed_sequence

    config = _task(experiment="lab_subset_sum", n=8, targets=40, steps=200, seed=5)
    out = run_config(config)
    relaxed, exact = np.array(out["relaxed_errors"]), np.array(out["exact_errors"])
    # the same stream as slth.lab.subset_sum_by_gradient: the values, then the targets
    rng = np.random.default_rng(as_seed_sequence(5))
    values = distributions.sample("uniform", 8, rng)
    z = rng.uniform(-1.0, 1.0, 40)
    sums = np.array([values[list(s)].sum() for k in range(9)
                     for s in itertools.combinations(range(8), k)])
    brute = np.abs(z[:, None] - sums[None, :]).min(axis=1)
    np.testing.assert_allclose(exact[0], brute, rtol=0, atol=1e-12)
    assert np.all(relaxed[0] >= brute - 1e-12)
    # the covering radius: the worst target of [-1, 1], so above every target's optimum;
    # a dense grid of targets approaches it from below
    grid = np.linspace(-1.0, 1.0, 20001)
    worst = np.abs(grid[:, None] - sums[None, :]).min(axis=1).max()
    assert worst <= out["covering"][0] + 1e-12 and out["covering"][0] <= worst + 1e-4
    assert np.all(exact <= out["covering"][0] + 1e-12)
    assert out["fraction_optimal"] == np.mean(relaxed <= exact)
    assert out["relaxed"]["max"] == relaxed.max() == out["empirical"]
    # no covering radius above COVERING_MAX_N
    big = run_config(_task(experiment="lab_subset_sum", n=26, targets=3, steps=5))
    assert big["covering"] == [None] and big["fraction_within_covering"] is None


def test_teacher_student_run_is_deterministic_and_consistent(torch):
    config = _task(**SMALL, searcher="gem_miner", density=0.05, rounds=1, seed=3)
    first, second = run_config(config), run_config(config, threads=2)
    assert _without_timings(first) == _without_timings(second)
    assert first["n"] == 2 and first["formula_n"] == 27 and first["widths"] == [4, 16, 4, 16, 2]
    assert first["density"] <= 0.05 and first["density_asked"] == 0.05
    # no layout given: the certificate does not cover the mask, and the row says why
    assert first["certified"] is None and first["certificate"].startswith("ticket: layer")
    assert 0.0 <= first["iou"] <= 1.0
    assert first["constructed_empirical"] <= first["constructed_certified"]
    assert first["formula_n_at_eps"] == {"0.1": 27, "0.03": 28, "0.01": 32}


def test_teacher_student_in_the_layout_is_certified_and_matches_its_masks(torch):
    from slth import lab
    from slth.experiments.constructions import CONSTRUCTIONS

    config = _task(**SMALL, support="layout", seed=1)
    out = run_config(config)
    assert out["certified"] is not None and out["certificate"] == ""
    assert out["empirical"] <= out["certified"]
    # the constructed ticket's density at that width, and a recomputed IoU: the same
    # ticket (target and source from the config's seed) and the searched mask again
    c = CONSTRUCTIONS["pensia"]
    s = np.random.SeedSequence(1).spawn(5)
    cfg = {**config, "C": c.default_C}
    ticket = c.build(c.make_target(cfg, s[0]), cfg, 2, s[1], None)
    assert out["constructed_density"] == ticket.kept / ticket.spec.n_params
    assert out["density_asked"] == out["constructed_density"]
    from slth.verify.domain import sample_ball

    rng = np.random.default_rng(s[2])
    x = sample_ball(rng, 128, 4, *ticket.domain)
    with lab.threads({"torch": 1, "numba": 1}):
        m = lab.to_torch(ticket.spec)
        lab.edge_popup(m, x, ticket.target(x), density=out["density_asked"], steps=15,
                       lr=0.03, batch=64, support=lab.layout_support(ticket),
                       seed=int(s[3].generate_state(1)[0]))
    both = sum(int((a & b).sum()) for a, b in zip(m.masks(), ticket.masks, strict=True))
    either = sum(int((a | b).sum()) for a, b in zip(m.masks(), ticket.masks, strict=True))
    assert out["iou"] == both / either


def test_smoke_sweep_through_the_store_resumes_without_duplicates(torch, tmp_path):
    grid = [{**SMALL, "searcher": ["edge_popup", "gem_miner"], "rounds": 1},
            {"experiment": "lab_subset_sum", "n": 8, "targets": 10, "steps": 20}]
    path = tmp_path / "lab.sqlite"
    part = run(Sweep(grid[1:], name="part"), path, workers=1, progress=False)
    full = run(Sweep(grid, name="full"), path, workers=1, progress=False)
    again = run(Sweep(grid, name="full"), path, workers=1, progress=False)
    assert (part.finished, full.skipped, full.finished, full.failed) == (1, 1, 2, 0)
    assert (again.skipped, again.finished) == (3, 0)
    with Store(path) as st:
        assert len(st) == 3 and len(st.keys()) == 3
        rows = st.rows()
    ts = [r for r in rows if r["experiment"] == "lab_teacher_student"]
    assert {r["searcher"] for r in ts} == {"edge_popup", "gem_miner"}
    # the row is the run's result: recomputing one task gives the same numbers
    fresh = run_config(ts[0]["config"])
    assert _without_timings(fresh) == {k: ts[0][k] for k in _without_timings(fresh)}
    table = smallest_widths(rows)
    assert len(table) == 2 * len(EPS_LEVELS)
    assert all(r["largest_n"] == 2 and r["formula_n"] in (27, 28, 32) for r in table)
    assert "not reached up to n = 2" in format_widths_table(table)


def _ts_row(n, seed, empirical, certified, searcher="edge_popup", density=0.05):
    config = {"construction": "pensia", "widths": [4, 4, 2], "activation": "relu",
              "eps": 0.1, "density": density, "seed": seed}
    return {"experiment": "lab_teacher_student", **config, "config": config, "n": n,
            "searcher": searcher, "empirical": empirical, "constructed_certified": certified,
            "constructed_empirical": certified / 2, "zero_sup": 0.6,
            "formula_n": 27, "formula_n_at_eps": {"0.1": 27, "0.03": 28, "0.01": 32},
            "density_found": density}


def test_smallest_widths_take_the_median_over_seeds():
    rows = [_ts_row(n, seed, e, c) for n, seed, e, c in (
        (4, 0, 0.05, 0.5), (4, 1, 0.5, 0.5), (4, 2, 0.5, 0.5),      # 1 of 3 within 0.1
        (8, 0, 0.05, 0.02), (8, 1, 0.08, 0.5), (8, 2, 0.5, 0.02),   # 2 of 3
        (16, 0, 0.02, 0.005), (16, 1, 0.02, 0.005), (16, 2, 0.2, 0.005))]
    table = {r["eps"]: r for r in smallest_widths(rows)}
    assert (table[0.1]["search_n"], table[0.1]["construction_n"]) == (8, 8)
    assert (table[0.03]["search_n"], table[0.03]["construction_n"]) == (16, 8)
    assert (table[0.01]["search_n"], table[0.01]["construction_n"]) == (None, 16)
    assert [table[e]["formula_n"] for e in EPS_LEVELS] == [27, 28, 32]
    assert table[0.1]["seeds"] == 3 and table[0.01]["largest_n"] == 16
    assert "not reached up to n = 16" in format_widths_table(list(table.values()))
    assert smallest_widths([{"experiment": "rss"}]) == []


def test_figures_draw_the_rows(tmp_path):
    from slth.experiments import plots

    rows = [_ts_row(n, seed, 0.1 * seed + 0.5 / n, 1.0 / n, searcher)
            for n in (2, 7, 27) for seed in (0, 1, 2) for searcher in ("edge_popup",
                                                                       "gem_miner")]
    fig, data = plots.lab_teacher_student(rows)
    entry = data["pensia 4-4-2 relu eps=0.1"]
    np.testing.assert_allclose(entry[("edge_popup", "5%")]["median"],
                               [0.1 + 0.5 / n for n in (2, 7, 27)])
    np.testing.assert_allclose(entry["constructed_certified"], [1 / 2, 1 / 7, 1 / 27])
    assert entry["formula_n"] == [27]
    ss = [{"experiment": "lab_subset_sum", "config": {"dist": "uniform"}, "n": n,
           "relaxed_errors": [[0.1, 0.2, 0.3]], "exact_errors": [[0.01, 0.02, 0.03]],
           "covering": [0.05 if n < 30 else None],
           "seconds_per_target": {"relaxed": 0.01, "exact": 0.001}} for n in (8, 32)]
    fig, data = plots.lab_subset_sum(ss)
    np.testing.assert_allclose(data["uniform"]["relaxed"]["median"], [0.2, 0.2])
    np.testing.assert_allclose(data["uniform"]["covering"], [0.05, np.nan])
    with pytest.raises(ValueError, match="no lab_teacher_student rows"):
        plots.lab_teacher_student(ss)
    with pytest.raises(ValueError, match="no lab_subset_sum rows"):
        plots.lab_subset_sum(rows)
    written = plots.suite_figures(rows + ss, tmp_path)
    assert sorted(Path(p).name for p in written) == ["lab_subset_sum.png",
                                                      "lab_teacher_student.png"]


def test_cli_prints_the_table_and_its_json(tmp_path, capsys):
    import json

    from slth.cli import main

    path = tmp_path / "rows.sqlite"
    with Store(path) as st:
        for i, (n, e) in enumerate(((4, 0.5), (16, 0.05))):
            r = _ts_row(n, 0, e, 0.01)
            config = {"experiment": "lab_teacher_student", **r["config"]}
            result = {k: v for k, v in r.items() if k not in ("config", "experiment")
                      and k not in r["config"]}
            st.add(f"k{i}", config, {**result, "timings": {"total": 0.0}})
    assert main(["sweep", "search-widths", str(path), "--eps", "0.1", "0.01", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert [(r["eps"], r["search_n"], r["construction_n"]) for r in table] == [
        (0.1, 16, 4), (0.01, None, 4)]      # certified 0.01 <= 0.01 at n = 4
    assert main(["sweep", "search-widths", str(path)]) == 0
    assert "not reached up to n = 16" in capsys.readouterr().out
    out = tmp_path / "figures"
    assert main(["plot", str(path), "--kind", "lab-teacher-student", "--out", str(out)]) == 0
    assert (out / "lab_teacher_student.png").is_file()
    capsys.readouterr()
    empty = tmp_path / "empty.sqlite"
    Store(empty).close()
    with pytest.raises(SystemExit):
        main(["sweep", "search-widths", str(empty)])
    assert "no lab_teacher_student rows" in capsys.readouterr().err
