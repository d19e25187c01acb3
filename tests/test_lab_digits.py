"""Experiment 4c (slth.experiments.lab_digits): the digits target, its ticket, searches."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from slth.nets import MLP, from_sklearn, random_target, scale_to_unit

pytest.importorskip("sklearn")

#: A small target and source: the formula's width for 64-4-10 at eps = delta = 0.1.
TINY = {"experiment": "lab_digits", "hidden": 4, "eps": 0.1, "delta": 0.1, "max_iter": 200,
        "steps": 3, "batch": 64}


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _config(**fields):
    from slth.experiments.grid import Sweep

    (task,) = Sweep([{**TINY, **fields}]).tasks()
    return task.config


@pytest.fixture(scope="module")
def task():
    from slth.experiments.lab_digits import digits_task

    return digits_task(hidden=TINY["hidden"], max_iter=TINY["max_iter"])


@pytest.mark.parametrize("per", ["neuron", "layer"])
def test_converted_classifier_gives_sklearns_probabilities(task, per):
    from slth.experiments.lab_digits import INPUT_NORM

    clf = task.classifier
    g, c = scale_to_unit(from_sklearn(clf), 1.0 / INPUT_NORM, per=per)
    x01 = task.x_test * INPUT_NORM                # the classifier's inputs, in [0, 1]^64
    # the temperature c undoes the scaling of the logits: sklearn's probabilities exactly
    np.testing.assert_allclose(_softmax(c * g(x01 / INPUT_NORM)), clf.predict_proba(x01),
                               rtol=0, atol=1e-10)
    assert np.array_equal(g(x01 / INPUT_NORM).argmax(1), clf.predict(x01))
    params = [np.abs(p) for p in (*g.weights, *g.biases)]
    assert max(float(p.max()) for p in params) == pytest.approx(1.0, abs=1e-15)
    if per == "neuron":   # every hidden neuron uses the whole range
        rows = np.maximum(params[0].max(axis=1), params[2])
        np.testing.assert_allclose(rows[rows > 0], 1.0, rtol=1e-15)
    # the inputs lie in the construction's domain, the unit l2 ball
    assert np.linalg.norm(task.x_train, axis=1).max() <= 1.0
    assert task.target_accuracy == task.sklearn_accuracy


def test_scale_to_unit_keeps_the_function_and_refuses_what_it_cannot_scale():
    net = random_target([5, 7, 6, 3], seed=0)
    big = MLP([w * s for w, s in zip(net.weights, (5.0, 0.2, 30.0), strict=True)],
              [np.linspace(-4, 4, 7), np.full(6, 0.3), np.zeros(3)], "leaky_relu")
    x = np.random.default_rng(1).normal(size=(50, 5))
    g, c = scale_to_unit(big, 0.25)
    np.testing.assert_allclose(g(0.25 * x) * c, big(x), rtol=1e-12, atol=1e-12)
    assert all(np.abs(w).max() <= 1.0 for w in g.weights)
    with pytest.raises(ValueError, match="input_scale"):
        scale_to_unit(big, 0.0)
    with pytest.raises(ValueError, match="per"):
        scale_to_unit(big, per="row")
    with pytest.raises(ValueError, match="positively homogeneous"):
        scale_to_unit(random_target([2, 3, 1], activation="tanh", seed=0))
    with pytest.raises(ValueError, match="output layer is all zero"):
        scale_to_unit(MLP([np.ones((2, 2)), np.zeros((1, 2))], None, "relu"))
    with pytest.raises(TypeError, match="net must be"):
        scale_to_unit(big.weights)


def test_burkholz_source_is_the_source_burkholz_prunes(task):
    from slth.tickets import burkholz, burkholz_source

    kw = {"eps": 0.1, "delta": 0.1, "seed": 3, "n": 2}
    spec = burkholz_source(task.target, **kw)
    ticket = burkholz(task.target, **kw)
    assert spec.to_json() == ticket.spec.to_json()
    for l in range(spec.depth):
        for a, b in zip(spec.layer(l), ticket.spec.layer(l), strict=True):
            assert (a is None and b is None) or np.array_equal(a, b)
    with pytest.raises(TypeError, match="unknown options"):
        burkholz_source(task.target, **kw, copies=3)


@pytest.fixture(scope="module")
def constructed():
    from slth.experiments.registry import run_config

    return {f: run_config(_config(searcher="construction", width_factor=f))
            for f in (1.0 / 32, 1.0)}


def test_ticket_at_the_formulas_width_has_the_targets_accuracy(constructed):
    full = constructed[1.0]
    assert full["n"] == full["formula_n"]
    assert full["accuracy"] == full["target_accuracy"]
    assert full["agreement"] == 1.0            # the same class on every test input
    assert full["max_logit_error"] <= 0.1       # within eps on the unit ball
    # a one-copy source is far from the target: the comparison can fail
    small = constructed[1.0 / 32]
    assert small["n"] == 1
    assert small["agreement"] < 1.0 and small["max_logit_error"] > 0.1
    assert full["kept"] == round(full["density"] * full["source_params"])


@pytest.mark.parametrize("searcher", ["edge_popup", "gem_miner"])
def test_searches_are_deterministic_for_a_seed(searcher):
    pytest.importorskip("torch")
    from slth.experiments.registry import run_config

    # GEM-MINER reaches its density after its 5 freezing rounds: 6 steps at least
    config = _config(searcher=searcher, width_factor=1.0 / 32, steps=6)
    a, b = run_config(config), run_config(config)
    a.pop("timings"), b.pop("timings")
    a.pop("seconds_per_step"), b.pop("seconds_per_step")
    assert a == b
    # edge-popup keeps the density of each layer rounded up, GEM-MINER at most the density
    assert a["n"] == 1
    assert (abs(a["density"] - 0.05) < 0.01 if searcher == "edge_popup"
            else a["density"] <= 0.05)
    assert 0.0 <= a["accuracy"] <= 1.0
    c = run_config({**config, "seed": 1})
    assert c["final_loss"] != a["final_loss"]


@pytest.mark.parametrize("field, value, match", [
    ("width_factor", 0.0, "width_factor must be in"),
    ("width_factor", 1.5, "width_factor must be in"),
    ("searcher", "imp", "searcher"),
    ("density", 0.0, "density must be in"),
    ("steps", 0, "steps"),
    ("hidden", "16", "hidden"),
    ("dtype", "float16", "dtype"),
])
def test_bad_fields_are_refused_naming_the_field(field, value, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _config(**{field: value})


def test_smoke_sweep_through_the_store_and_its_plot(tmp_path):
    pytest.importorskip("torch")
    from slth.experiments.grid import Sweep
    from slth.experiments.lab_digits import accuracy_table
    from slth.experiments.plots import digits_accuracy, plot_store
    from slth.experiments.run import run
    from slth.experiments.store import Store

    sweep = Sweep([{**TINY, "searcher": ["construction", "edge_popup", "gem_miner"],
                    "width_factor": 1.0 / 32}], name="digits")
    path = tmp_path / "digits.sqlite"
    first = run(sweep, path, workers=1, progress=False)
    assert (first.finished, first.failed) == (3, 0)
    again = run(sweep, path, workers=1, progress=False)
    assert (again.skipped, again.finished) == (3, 0)
    with Store(path, readonly=True) as st:
        rows = st.rows("lab_digits")
    assert len(rows) == 3
    _, data = digits_accuracy(rows)
    (panel,) = data.values()
    for r in rows:
        line = r["searcher"] + ("" if r["searcher"] == "construction" else " 0.05")
        assert panel[line]["median"].tolist() == [r["accuracy"]]
    assert panel["target"] == rows[0]["target_accuracy"]
    table = accuracy_table(rows)
    assert [t["searcher"] for t in table] == ["construction", "edge_popup", "gem_miner"]
    files = plot_store(path, "digits-accuracy", tmp_path)
    assert files and all(f.endswith(".png") for f in files)


def test_importing_the_experiments_imports_neither_torch_nor_sklearn():
    code = ("import sys, slth.experiments.registry, slth.experiments.lab_digits; "
            "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
