"""curves.png: the best epoch marked and labelled, the test score in the title (matplotlib objects,
not pixels), and the training loop passing both."""

from __future__ import annotations

import pytest

from archspec.train import artifacts

ROWS = [{"epoch": e, "loss": 2 / e, "accuracy": 1 - 0.5 / e, "val_loss": 2 / e + (e - 4) ** 2 / 20,
         "val_accuracy": 1 - 0.5 / e - abs(e - 4) / 50, "learning_rate": 0.01, "seconds": 0.5}
        for e in range(1, 7)]
BEST = {"epoch": 4, "monitor": "val_loss", "value": ROWS[3]["val_loss"]}
TEST = {"loss": 0.1093, "accuracy": 0.9667}


@pytest.fixture()
def figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []

    def make(*args, **kwargs):
        made.append(artifacts.curves_figure(*args, **kwargs))
        return made[-1]

    yield make
    for fig in made:
        plt.close(fig)


def _legend(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend else []


def _vertical_at(ax, x) -> list:
    return [line for line in ax.get_lines() if list(line.get_xdata()) == [x, x]]


def test_best_epoch_is_a_labelled_line_on_both_plots_and_a_star_on_its_curve(figure):
    fig = figure(ROWS, "tiny on sklearn:digits", best=BEST, test_metrics=TEST)
    loss_ax, metrics_ax = fig.axes
    for ax in (loss_ax, metrics_ax):
        assert len(_vertical_at(ax, 4)) == 1, "a vertical line at the best epoch"
        assert f"best epoch 4 (val_loss {BEST['value']:.4g})" in _legend(ax)
    stars = [line for line in loss_ax.get_lines() if line.get_marker() == "*"]
    assert len(stars) == 1 and list(stars[0].get_xdata()) == [4] and list(stars[0].get_ydata()) == [BEST["value"]]
    assert not [line for line in metrics_ax.get_lines() if line.get_marker() == "*"]  # val_loss is not drawn there


def test_test_scores_are_in_the_title_and_drawn_as_levels(figure):
    fig = figure(ROWS, "tiny on sklearn:digits", best=BEST, test_metrics=TEST)
    assert fig._suptitle.get_text() == "tiny on sklearn:digits\ntest: accuracy 0.9667, loss 0.1093"
    loss_ax, metrics_ax = fig.axes
    assert "test loss 0.1093" in _legend(loss_ax) and "test accuracy 0.9667" in _legend(metrics_ax)
    level = [line for line in metrics_ax.get_lines() if line.get_label() == "test accuracy 0.9667"]
    assert list(level[0].get_ydata()) == [0.9667, 0.9667]


def test_a_monitored_metric_gets_its_star_on_the_metrics_plot(figure):
    best = {"epoch": 5, "monitor": "val_accuracy", "value": ROWS[4]["val_accuracy"]}
    _, metrics_ax = figure(ROWS, "t", best=best).axes
    stars = [line for line in metrics_ax.get_lines() if line.get_marker() == "*"]
    assert [list(s.get_xdata()) for s in stars] == [[5]]


def test_without_best_or_test_the_figure_is_as_before(figure, tmp_path):
    fig = figure(ROWS, "tiny on sklearn:digits")
    assert fig._suptitle.get_text() == "tiny on sklearn:digits"
    assert not any(_vertical_at(ax, 4) for ax in fig.axes)
    assert not any(t.startswith(("best", "test")) for ax in fig.axes for t in _legend(ax))
    # no best epoch (every loss NaN) and no test split: still a figure, no marks
    rows = [{"epoch": 1, "loss": None}]
    fig = figure(rows, "t", best=None, test_metrics={})
    assert len(fig.axes) == 1 and fig._suptitle.get_text() == "t"
    path = artifacts.plot_curves(tmp_path, ROWS, "t", best=BEST, test_metrics=TEST)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_the_training_loop_passes_the_best_epoch_and_the_test_metrics(tmp_path, monkeypatch, keras):
    from archspec.spec import loads
    from archspec.train import fit

    seen = {}
    real = artifacts.plot_curves

    def spy(run, rows, title, **kwargs):
        seen.update(kwargs, rows=rows)
        return real(run, rows, title, **kwargs)

    monkeypatch.setattr(artifacts, "plot_curves", spy)
    spec = loads("name: tiny\ninput: {shape: [8, 8, 1]}\nbody:\n  - flatten\n"
                 "  - dense: {units: 10, activation: softmax}\n"
                 "train: {epochs: 2, batch_size: 128, precision: float32}\n", file="tiny.yaml")
    result = fit(spec, output=tmp_path, verbose=0, log=lambda _msg: None)
    assert seen["test_metrics"] == result.test_metrics and set(seen["test_metrics"]) == {"loss", "accuracy"}
    best = seen["best"]
    assert best["monitor"] == "val_loss" and best["epoch"] in (1, 2)
    assert best["value"] == min(r["val_loss"] for r in seen["rows"])
