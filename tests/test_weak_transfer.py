"""Ticket transfer (slth.lab.transfer), Adam in slth.lab.imp, the "ticket_transfer" experiment."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from slth.lab.data import load_dataset  # noqa: E402
from slth.lab.imp import lenet, train  # noqa: E402
from slth.lab.transfer import _hidden_state, transfer  # noqa: E402


@pytest.fixture(scope="module")
def pair():
    src = load_dataset("teacher", seed=0, samples=240, widths=(6, 10, 3))
    tgt = load_dataset("teacher", seed=1, samples=240, widths=(6, 10, 5))
    return src, tgt


def test_adam_first_step_is_lr_times_sign_of_the_gradient(pair):
    src, _ = pair
    model = lenet(src.features, src.classes, (8,), seed=0)
    ref = lenet(src.features, src.classes, (8,), seed=0)
    x = torch.as_tensor(src.x_train)
    y = torch.as_tensor(src.y_train.astype(np.int64))
    torch.nn.functional.cross_entropy(ref(x), y).backward()
    lr = 1e-3
    train(model, src.x_train, src.y_train, epochs=1, lr=lr, batch_size=len(src.y_train),
          optimizer="adam")
    # closed form of Adam's first step: lr * g / (|g| + eps), bias corrections cancel
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        want = q.detach() - lr * q.grad / (q.grad.abs() + 1e-8)
        torch.testing.assert_close(p.detach(), want, rtol=1e-5, atol=1e-7)
    # and it is not the SGD step
    sgd = lenet(src.features, src.classes, (8,), seed=0)
    train(sgd, src.x_train, src.y_train, epochs=1, lr=lr, batch_size=len(src.y_train))
    assert not torch.equal(sgd[0].weight, model[0].weight)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train(sgd, src.x_train, src.y_train, epochs=1, optimizer="rmsprop")


def test_new_head_drops_exactly_the_output_layer(pair):
    src, tgt = pair
    model = lenet(tgt.features, tgt.classes, (8, 4), seed=0)
    state = {k: v.detach() for k, v in lenet(src.features, src.classes, (8, 4),
                                              seed=1).state_dict().items()}
    assert sorted(_hidden_state(state, model)) == ["0.bias", "0.weight", "2.bias",
                                                   "2.weight"]


def test_transfer_is_deterministic_and_consistent(pair):
    src, tgt = pair
    kw = dict(hidden=(12,), levels=2, epochs=2, rewind_step=2, batch_size=32)
    a, b = transfer(src, tgt, seed=0, **kw), transfer(src, tgt, seed=0, **kw)
    assert a == b
    assert a["density"] == a["own_density"]          # same counts, different data
    assert a["random"][0] == a["transfer"][0]        # level 0: the dense network
    assert a["mask_differs"] == [False, True, True]  # the source's masks are not the target's
    c = transfer(src, tgt, seed=1, **kw)
    assert c["transfer"] != a["transfer"]


def test_transfer_bad_input(pair):
    src, _ = pair
    other = load_dataset("teacher", seed=2, samples=200, widths=(5, 8, 3))
    with pytest.raises(ValueError, match="same input features, got 6 and 5"):
        transfer(src, other, hidden=(4,), levels=1, epochs=1)
    with pytest.raises(ValueError, match="levels must be >= 1"):
        transfer(src, src, hidden=(4,), levels=0, epochs=1)


def test_smoke_through_the_store_and_plot(tmp_path):
    from slth.experiments.plots import plot_store
    from slth.experiments.run import run
    from slth.experiments.store import Store
    from slth.experiments.weak_transfer import SMOKE

    path = tmp_path / "transfer.sqlite"
    sweep = {"name": "transfer-smoke", "grid": list(SMOKE.values())}
    assert run(sweep, path, workers=1, progress=False).finished == 1
    with Store(path, readonly=True) as st:
        row, = st.rows("ticket_transfer")
    assert row["source_size"] == 500 and len(row["transfer"]) == 3
    assert [round(d, 2) for d in row["density"]] == [1.0, 0.5, 0.25]
    files = plot_store(path, "ticket-transfer", tmp_path)
    assert [p.rsplit("/", 1)[1] for p in files] == ["ticket_transfer.png"]
