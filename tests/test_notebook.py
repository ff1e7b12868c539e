"""The tutorial notebook: stored without outputs, and executed end to end on MovieLens 100K so it cannot rot.

The slow tests run `notebooks/deepfm_movielens.ipynb` once (module fixture) with nbclient, in a kernel
started from this interpreter (a temporary kernel spec, so a stray user kernel named "python3" cannot
be picked up), with `DEEPFM_MOVIELENS_DIR` pointing at the shared ML-100K folder. A cell inserted after
the notebook's `parameters` cell cuts `EPOCHS` (and doubles `BATCH_SIZE`) to keep the run short and sends the
outputs to a temporary folder; a probe cell appended at the end reports the kernel's state as JSON.
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
}))
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
    for name in ("VARIANT", "TASK", "EPOCHS", "BATCH_SIZE", "SEED", "OUTPUT_DIR"):
        assert f"{name} = " in params, f"parameter {name} missing from the parameters cell"
    assert 'VARIANT = "ml-100k"' in params, "ML-100K should be the default so the notebook runs in minutes"
    source = "\n".join(cell.source for cell in nb.cells)
    assert 'os.environ.get("DEEPFM_MOVIELENS_DIR")' in source
    for name in ("ContributionLogger", "keras.callbacks.TensorBoard", "plot_model", "model.summary()", "tensorboard"):
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
        f"EPOCHS = {TEST_EPOCHS}\nBATCH_SIZE = {TEST_BATCH_SIZE}\nOUTPUT_DIR = {str(out)!r}"
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
def test_comparison_table_has_four_models_with_finite_holdout_metrics(executed):
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
    # The table is displayed, not only saved.
    shown = [_text(o) for _, cell, o in _outputs(nb) if "comparison.round" in cell.source]
    assert shown and all(name in shown[0] for name in EXPECTED_MODELS), shown


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
    assert len(images) >= 2, "the learning curves and the contribution plot should be rendered"
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
