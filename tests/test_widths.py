"""The constructions' width formulas side by side: sizes against built sources, the
formulas against slth.bounds, the figure's data, the CLI and bad input."""

import json

import numpy as np
import pytest

from slth import bounds
from slth.cli import main
from slth.experiments.constructions import CONSTRUCTIONS, formula_widths, ticket_params
from slth.experiments.plots import construction_widths

OFFERED = [name for name, c in CONSTRUCTIONS.items() if c.source_params is not None]


def _config(c, **kw):
    config = {p.name: p.default for p in ticket_params(c)}
    config.update(eps=0.1, **kw)
    return config


@pytest.mark.parametrize("name", OFFERED)
def test_source_params_count_the_built_source(name):
    # the size computed without drawing equals the spec the builder draws
    c = CONSTRUCTIONS[name]
    for activation in c.activations[:3]:
        config = _config(c, activation=activation)
        target = c.make_target(config, np.random.SeedSequence(0))
        for n in (2, 5):
            ticket = c.build(target, config, n, np.random.SeedSequence(1), None)
            assert c.source_params(target, config, n) == ticket.spec.n_params


def test_formula_n_is_the_bounds_formula():
    rows = formula_widths([0.1, 0.01], [4, 8, 2], constructions=["pensia", "burkholz"],
                          delta=0.05)
    got = {(r["construction"], r["eps"]): r["formula_n"] for r in rows}
    for eps in (0.1, 0.01):
        assert got["pensia", eps] == bounds.pensia_n([4, 8, 2], eps, 0.05, 3.0)
        assert got["burkholz", eps] == bounds.burkholz_n([4, 8, 2], eps, 0.05, 3.0)
    # the formulas grow as eps falls
    assert got["pensia", 0.01] > got["pensia", 0.1]
    assert all(r["label"].startswith(r["theorem"].split(",")[0]) or "placeholder" in r["label"]
               for r in rows)


def test_pensia_source_params_closed_form():
    # 2n d_{l-1} neurons between d_{l-1} and d_l: 2n d_{l-1} (d_{l-1} + d_l) weights
    (row,) = formula_widths([0.1], [4, 4, 2], constructions=["pensia"])
    n = row["formula_n"]
    assert row["source_params"] == 2 * n * 4 * (4 + 4) + 2 * n * 4 * (4 + 2)


def test_every_construction_has_a_row_and_the_figure_draws_them():
    rows = formula_widths([0.1, 0.03])
    assert {r["construction"] for r in rows} == set(CONSTRUCTIONS)
    fig, data = construction_widths(rows)
    assert set(data) == set(CONSTRUCTIONS)
    for name, entry in data.items():
        mine = sorted((r for r in rows if r["construction"] == name), key=lambda r: -r["eps"])
        np.testing.assert_array_equal(entry["formula_n"], [r["formula_n"] for r in mine])
        np.testing.assert_allclose(entry["x"], [1 / r["eps"] for r in mine])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="rows"):
        construction_widths([])


@pytest.mark.parametrize("kwargs, match", [
    ({"eps": [0.1, 1.5]}, "eps"), ({"eps": float("nan")}, "eps"),
    ({"eps": 0.1, "delta": 0.0}, "delta"), ({"eps": 0.1, "constructions": ["nope"]}, "nope"),
    ({"eps": 0.1, "widths": [4]}, "widths"),
])
def test_bad_input(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        formula_widths(**kwargs)


def test_cli_table_json_and_plot(tmp_path, capsys):
    out = tmp_path / "w.png"
    assert main(["widths", "--of", "pensia", "burkholz", "--eps", "0.1", "0.01",
                 "--plot", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert out.stat().st_size > 0
    assert [r["formula_n"] for r in payload["rows"]] == [
        r["formula_n"] for r in formula_widths([0.1, 0.01], constructions=["pensia", "burkholz"])]
    assert main(["widths", "--of", "pensia", "--eps", "0.1"]) == 0
    text = capsys.readouterr().out
    assert "formula n" in text and "this package's calibration" in text
