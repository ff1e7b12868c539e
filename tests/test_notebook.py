"""The tutorial notebook: stored without outputs, and executed end to end on MovieLens 100K so it cannot rot.

The slow tests run `notebooks/deepfm_movielens.ipynb` once (module fixture) with nbclient, in a kernel
started from this interpreter (a temporary kernel spec, so a stray user kernel named "python3" cannot
be picked up), with `DEEPFM_MOVIELENS_DIR` pointing at the shared ML-100K folder. A cell inserted after
the notebook's `parameters` cell cuts `EPOCHS` (and doubles `BATCH_SIZE`), trains the ablation with one seed
instead of two, to keep the run short, sends the outputs to a temporary folder, and wraps `plt.show` to record
every figure's titles and axis labels; a probe cell appended at the end reports the kernel's state as JSON.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO_ROOT, shared_data_path

NOTEBOOK = REPO_ROOT / "notebooks" / "deepfm_movielens.ipynb"
TEST_EPOCHS = 3
TEST_BATCH_SIZE = 2048
TEST_ABLATION_SEEDS = 1
EXPECTED_MODELS = ["DeepFM", "fm_1d only (linear)", "FM (fm_1d + fm_2d)", "deep only"]
PARTS = ("fm_1d", "fm_2d", "deep")

PROBE = """
import json as _json
print("PROBE" + _json.dumps({
    "epochs_run": len(history.history["loss"]),
    "replicas": strategy.num_replicas_in_sync,
    "num_fields": int(model.get_layer("embeddings").output.shape[1]),
    "scalar_tags": sorted(scalars.columns),
    "scalar_epochs": [int(i) for i in scalars.index],
    "comparison_rows": len(comparison),
    "ablation_models": runs["model"].tolist(),
    "ablation_epochs_run": runs["epochs run"].tolist(),
    "ablation_best_epoch": runs["best epoch"].tolist(),
    "max_epochs": EPOCHS,
    "verdicts": verdicts,
    "importance_fields": list(importance.fields),
    "importance_first_order": importance.first_order.tolist(),
    "importance_interaction": importance.interaction.tolist(),
    "served_max_abs_diff": served_max_abs_diff,
    "served_rows": len(served),
    "figures": _figure_labels,
}))
"""

# Runs before the notebook's own imports: every figure shown is recorded (title, axis labels) before display.
RECORD_FIGURES = """
import matplotlib.pyplot as _plt

_figure_labels, _plt_show = [], _plt.show


def _show_recording_labels(*args, **kwargs):
    for number in _plt.get_fignums():
        _figure_labels.append([
            {"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
             "colorbar": ax.get_label() == "<colorbar>", "legend": ax.get_legend() is not None}
            for ax in _plt.figure(number).axes
        ])
    return _plt_show(*args, **kwargs)


_plt.show = _show_recording_labels
"""


def read_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def parameters_index(nb) -> int:
    tagged = [i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def test_notebook_is_valid_and_stored_without_outputs():
    nb = read_notebook()
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for cell in code:
        assert cell.outputs == [], f"cell {cell.get('id')} has stored outputs; strip them before committing"
        assert cell.execution_count is None, f"cell {cell.get('id')} has an execution count; strip the outputs"
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_notebook_parameters_and_data_source():
    nb = read_notebook()
    params = nb.cells[parameters_index(nb)].source
    for name in ("VARIANT", "TASK", "EPOCHS", "BATCH_SIZE", "SEED", "ABLATION_SEEDS", "OUTPUT_DIR"):
        assert f"{name} = " in params, f"parameter {name} missing from the parameters cell"
    assert 'VARIANT = "ml-100k"' in params, "ML-100K should be the default so the notebook runs in minutes"
    source = "\n".join(cell.source for cell in nb.cells)
    assert 'os.environ.get("DEEPFM_MOVIELENS_DIR")' in source
    shown = ("ContributionLogger", "keras.callbacks.TensorBoard", "plot_model", "model.summary()", "tensorboard")
    shown += ("field_importance", "EarlyStopping", "restore_best_weights=True", "export_serving_model")
    shown += ("tf.saved_model.load", "serving_request")
    for name in shown:
        assert name in source, f"the notebook no longer shows {name}"


def _write_kernel_spec(root: Path) -> str:
    """A kernel spec running ipykernel in this very interpreter (the CI virtualenv)."""
    name = "deepfm-keras-test"
    spec_dir = root / "kernels" / name
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "deepfm_keras tests",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    return name


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Executes the notebook once; returns (executed notebook, output folder, probe dict, seconds)."""
    from nbclient import NotebookClient

    data_dir = shared_data_path() / "ml-100k"
    if not data_dir.is_dir():
        pytest.fail(f"MovieLens 100K not found at {data_dir}; set DEEPFM_SHARED_DATA.")
    root = tmp_path_factory.mktemp("notebook")
    out = root / "out"
    nb = read_notebook()
    overrides = nbformat.v4.new_code_cell(
        f"EPOCHS = {TEST_EPOCHS}\nBATCH_SIZE = {TEST_BATCH_SIZE}\nABLATION_SEEDS = {TEST_ABLATION_SEEDS}\n"
        f"OUTPUT_DIR = {str(out)!r}\n{RECORD_FIGURES}"
    )
    nb.cells.insert(parameters_index(nb) + 1, overrides)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(root / "jupyter"))
        mp.setenv("DEEPFM_MOVIELENS_DIR", str(data_dir))
        mp.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
        mp.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")  # Agg rendering, PNG outputs
        kernel = _write_kernel_spec(root / "jupyter")
        client = NotebookClient(
            nb, kernel_name=kernel, timeout=600, resources={"metadata": {"path": str(root)}}, allow_errors=False
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
    probe_text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    assert "PROBE" in probe_text, f"probe cell printed nothing useful: {nb.cells[-1].outputs}"
    probe = json.loads(probe_text.split("PROBE", 1)[1])
    print(f"notebook executed in {seconds:.0f} s with EPOCHS={TEST_EPOCHS}")
    return nb, out, probe, seconds


def _outputs(nb):
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            yield index, cell, output


def _text(output) -> str:
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return data.get("text/plain", "") + data.get("text/html", "")


@pytest.mark.slow
def test_ablation_table_has_four_models_trained_with_early_stopping(executed):
    nb, out, probe, _ = executed
    import pandas as pd

    table = pd.read_csv(out / "comparison.csv", index_col="model")
    assert list(table.index) == EXPECTED_MODELS
    assert probe["comparison_rows"] == 4
    for metric in ("rmse", "mae"):
        values = table[metric].tolist()
        assert all(math.isfinite(v) and v > 0 for v in values), (metric, values)
    # Ratings are 1-5 stars: always predicting the mean scores an RMSE of about 1.13.
    assert table.loc["DeepFM", "rmse"] < 1.05, table
    assert table.loc["DeepFM", "parameters"] > max(table.loc[m, "parameters"] for m in EXPECTED_MODELS[1:])
    assert set(table.loc["DeepFM", "parts"].split(" + ")) == set(PARTS)
    # One run per model and seed, each stopped by early stopping or the epoch cap, best epoch restored.
    assert probe["ablation_models"] == [m for m in EXPECTED_MODELS for _ in range(TEST_ABLATION_SEEDS)]
    assert probe["max_epochs"] == TEST_EPOCHS
    for run, best in zip(probe["ablation_epochs_run"], probe["ablation_best_epoch"], strict=True):
        assert 1 <= best <= run <= TEST_EPOCHS, probe
    runs = pd.read_csv(out / "ablation_runs.csv")
    assert len(runs) == 4 * TEST_ABLATION_SEEDS
    # The table is displayed, not only saved.
    shown = [_text(o) for _, cell, o in _outputs(nb) if "comparison.round" in cell.source]
    assert shown and all(name in shown[0] for name in EXPECTED_MODELS), shown


@pytest.mark.slow
def test_ablation_verdict_is_computed_from_the_table(executed):
    nb, out, probe, _ = executed
    import pandas as pd

    table = pd.read_csv(out / "comparison.csv", index_col="model")
    ranking = table["rmse"].sort_values()
    printed = "".join(_text(o) for _, cell, o in _outputs(nb) if "def verdict" in cell.source)
    listed = [line.split()[0] for line in printed.splitlines() if line.startswith("  ")]
    assert listed == [name.split()[0] for name in ranking.index], printed
    first = probe["verdicts"][0]
    assert first.startswith(f"{ranking.index[0]} beats {ranking.index[1]} by "), first
    assert any("DeepFM" in v and "deep only" in v for v in probe["verdicts"]), probe["verdicts"]
    assert all(v.endswith("this data.") or "could reverse it" in v for v in probe["verdicts"]), probe["verdicts"]
    assert all(v in printed for v in probe["verdicts"])


@pytest.mark.slow
def test_field_importance_is_computed_and_plotted(executed):
    nb, _, probe, _ = executed
    import numpy as np

    fields = probe["importance_fields"]
    assert len(fields) == probe["num_fields"]
    assert {"user_id", "movie_id", "genres", "year"} <= set(fields)
    first_order = np.array(probe["importance_first_order"])
    interaction = np.array(probe["importance_interaction"])
    assert first_order.shape == (len(fields),)
    assert interaction.shape == (len(fields), len(fields))
    assert np.isfinite(interaction).all() and (interaction >= 0).all()
    np.testing.assert_allclose(interaction, interaction.T)
    np.testing.assert_array_equal(np.diag(interaction), 0.0)
    assert (first_order > 0).any() and (interaction > 0).any()
    # Field names on both axes of the heatmap, a labelled colour bar.
    [heatmap] = [f for f in probe["figures"] if any(ax["colorbar"] for ax in f)]
    assert any("interaction" in ax["title"] for ax in heatmap)
    assert all(ax["ylabel"] for ax in heatmap if ax["colorbar"])


@pytest.mark.slow
def test_every_figure_has_a_title_axis_labels_and_units(executed):
    _, _, probe, _ = executed
    figures = probe["figures"]
    assert len(figures) >= 3, figures  # learning curves, contribution weights, field importance
    for axes in figures:
        for ax in axes:
            if ax["colorbar"]:
                assert ax["ylabel"], axes
                continue
            assert ax["title"] and ax["xlabel"] and ax["ylabel"], axes
    curves = figures[0]
    assert [ax["xlabel"] for ax in curves] == ["epoch", "epoch"]
    assert "stars" in curves[1]["ylabel"], curves  # RMSE in stars
    assert all(ax["legend"] for f in figures[:2] for ax in f), figures[:2]


@pytest.mark.slow
def test_served_prediction_matches_the_keras_model(executed):
    nb, out, probe, _ = executed
    assert probe["served_rows"] == 5
    assert probe["served_max_abs_diff"] < 1e-5, probe["served_max_abs_diff"]
    assert (out / "serving" / "deepfm" / "1" / "saved_model.pb").is_file()
    # At the end: after the ablation and the field importance.
    serving = max(i for i, cell in enumerate(nb.cells) if "tf.saved_model.load" in cell.source)
    before = [
        i for i, cell in enumerate(nb.cells) if "comparison.round" in cell.source or "field_importance(" in cell.source
    ]
    assert before and all(i < serving for i in before), (before, serving)


@pytest.mark.slow
def test_contribution_weights_are_logged_every_epoch(executed):
    _, out, probe, _ = executed
    epochs = probe["epochs_run"]
    assert 1 <= epochs <= TEST_EPOCHS
    assert probe["scalar_epochs"] == list(range(1, epochs + 1))
    for part in PARTS:
        for group in ("contribution", "contribution_share", "contribution_std"):
            assert f"{group}/{part}" in probe["scalar_tags"]
    assert "contribution/bias" in probe["scalar_tags"]
    runs = sorted(p.name for p in (out / "logs").iterdir() if p.is_dir())
    assert runs == ["contributions", "train", "validation"], runs


@pytest.mark.slow
def test_notebook_shows_summary_plots_and_saves_the_model(executed):
    nb, out, probe, _ = executed
    summary = "".join(_text(o) for _, cell, o in _outputs(nb) if "model.summary()" in cell.source)
    for layer in ("embeddings", "fm_1d", "fm_2d", "deep", "combine", "Total params"):
        assert layer in summary, f"{layer!r} missing from the model.summary() output"
    images = [o for _, _, o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert len(images) >= 3, "the learning curves, the contribution plot and the field importance should be rendered"
    for name in ("model.keras", "encoder.json", "comparison.csv"):
        assert (out / name).is_file(), name
    assert probe["num_fields"] == 9  # year + 7 categorical fields + genres


@pytest.mark.slow
def test_notebook_runs_clean_and_fast_enough(executed):
    nb, _, _, seconds = executed
    for index, _, output in _outputs(nb):
        assert output.output_type != "error", f"cell {index} raised"
        if output.output_type == "stream" and output.name == "stderr":
            text = output.text
            assert "Traceback" not in text, f"cell {index}: {text}"
            assert not ("Warning" in text and "deepfm_keras" in text), f"cell {index} warns from deepfm_keras: {text}"
    # Generous bound (a shared 2-core machine): a notebook that takes many minutes in CI needs fixing.
    assert seconds < 600, seconds
    assert os.path.exists(NOTEBOOK)
