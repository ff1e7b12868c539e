"""Reading TensorBoard event files back with TensorBoard's own reader."""

import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def read_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar summary of a TensorBoard run directory: `{tag: [(step, value), ...]}`.

    TF2 `tf.summary.scalar` events are tensor events of the "scalars" plugin, which the
    accumulator keeps under its "tensors" tags.
    """
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return {
        tag: [(event.step, float(tf.make_ndarray(event.tensor_proto))) for event in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
        if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars"
    }
