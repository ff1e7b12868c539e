"""Optimizers whose embedding-table updates cost what the batch's rows cost, never the whole table.

A lookup in a `CategoricalEmbedding` table gives a row-sparse gradient
(`tf.IndexedSlices`: the rows a batch touched and their gradients). Stock
Keras 3 optimizers turn it into a dense table-sized tensor and update every
row of the table and of its optimizer slots at every step, so a step's cost
grows with the table (measured: benchmarks/README.md, "Vocabulary scaling").
The optimizers here keep it sparse:
for a row-sparse gradient they merge duplicate ids, gather the touched rows of
the table and of its slots, apply the optimizer's formula to those rows only,
and scatter the results back. Dense gradients (the MLP, the `combine` layer)
get the stock Keras update, unchanged.

| optimizer | table rows a batch touches | rows it does not touch | slot memory per table |
|---|---|---|---|
| `LazyAdam` | Keras `Adam` formula | weights and both moments unchanged (lazy) | 2x the table |
| `SparseAdagrad` | Keras `Adagrad` formula | unchanged (Adagrad is lazy by nature) | 1x |
| `RowWiseAdagrad` | one accumulator per row: `acc += mean(g^2)` | unchanged | 1/embedding_dim |
| `SparseSGD` | Keras `SGD` (momentum lazily) | unchanged | 0 (1x with momentum) |
| `SparseFtrl` | TensorFlow's sparse FTRL kernel (= Keras `Ftrl` formula) | unchanged | 2x |

`LazyAdam` follows the lazy semantics of TensorFlow 1's `LazyAdamOptimizer`
and PyTorch's `SparseAdam`: the bias correction uses the global step, and the
moments of a row decay only when the row is in a batch. With every row in
every batch it is exactly Keras `Adam`. `SparseAdagrad` and `SparseSGD`
without momentum give exactly the Keras results (their untouched rows have a
zero gradient and would not move anyway).

Their names are in one table, `deepfm_keras.optimizer_names.NAMES` (also
`NAMES`, `names` and `get` here): a model from `deepfm_keras.build_deepfm`
resolves `compile(optimizer="adam")` to `LazyAdam`, so the plain Keras call
takes the sparse path; stock dense Keras `Adam` is `"dense_adam"`.
All are registered Keras objects: a `.keras` file
saves and restores them with their state, and they work under
`tf.distribute.MirroredStrategy` / `MultiWorkerMirroredStrategy` (the
all-reduce of a row-sparse gradient gathers the slices and stays sparse).

Decoupled `weight_decay` on a table applies to the rows a batch touches.
`clipnorm`, `clipvalue` and `global_clipnorm` clip a table's gradient after
its duplicate ids are merged, so the clipped gradient is the one the update
uses, and keep it row-sparse (Keras' own `global_clipnorm` densifies it, and
every row would move). Not supported on the sparse path (an error says so):
`use_ema` and `gradient_accumulation_steps`, which keep a dense copy of every
table, and `amsgrad`.

Example:

>>> import numpy as np
>>> from deepfm_keras import CategoricalFeature, build_deepfm
>>> model = build_deepfm([CategoricalFeature("user", 1000)], embedding_dim=4, hidden_units=(8,))
>>> model.compile(optimizer=LazyAdam(0.01), loss="binary_crossentropy")
>>> table = model.get_layer("embedding_categorical").embeddings
>>> before = keras.ops.convert_to_numpy(table)
>>> _ = model.train_on_batch({"user": np.array([[3], [5]])}, np.array([[1.0], [0.0]]))
>>> np.flatnonzero(np.any(keras.ops.convert_to_numpy(table) != before, axis=1)).tolist()
[3, 5]
"""

from __future__ import annotations

import keras
import tensorflow as tf

from deepfm_keras import chunked
from deepfm_keras.optimizer_names import NAMES, get, names  # noqa: F401 (the names of the classes below)

ROW_SPARSE_ATTRIBUTE = "row_sparse"
"""Attribute a layer sets to True on a table variable whose rows are looked up (see `mark_row_sparse`)."""


def mark_row_sparse(variable) -> None:
    """Marks a table variable as looked up by rows.

    The optimizers here then keep per-row state for it where they have a
    choice (`RowWiseAdagrad`'s one accumulator per row) and apply decoupled
    weight decay to the rows a batch touches only. A row-sparse gradient gets
    the sparse update whether or not the variable is marked.

    Args:
        variable: a `keras.Variable` of shape `(rows, dim)`.
    """
    setattr(variable, ROW_SPARSE_ATTRIBUTE, True)


def _merge_duplicates(gradient: tf.IndexedSlices) -> tuple[tf.Tensor, tf.Tensor]:
    """Sums the gradient rows of repeated ids: `(unique_indices, summed_values)`."""
    indices, positions = tf.unique(gradient.indices)
    values = tf.math.unsorted_segment_sum(gradient.values, positions, tf.shape(indices)[0])
    return indices, values


def _merged(gradient: tf.IndexedSlices) -> tf.IndexedSlices:
    indices, values = _merge_duplicates(gradient)
    return tf.IndexedSlices(values, indices, gradient.dense_shape)


def _unsupported(optimizer, **flags) -> None:
    on = [name for name, value in flags.items() if value]
    if on:
        raise ValueError(
            f"{type(optimizer).__name__} does not support {', '.join(on)}: it would keep or update a dense copy "
            "of every embedding table at every step. Use the stock Keras optimizer for that."
        )


class RowSparseOptimizer(chunked.TableSlots):
    """Row-sparse `update_step` for `tf.IndexedSlices` gradients; dense gradients keep the parent's update.

    Subclasses give `_slots(variable)` (the optimizer variables that shadow
    `variable` row by row) and `_update_rows(rows, grad, slot_rows, lr)`, the
    optimizer's formula on a block of rows, returning the new rows and slots.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_sparse_support()

    def _check_sparse_support(self):
        _unsupported(
            self,
            use_ema=self.use_ema,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            amsgrad=getattr(self, "amsgrad", False),
        )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._note_row_sparse(var_list)

    def _note_row_sparse(self, var_list) -> None:
        self._row_sparse_keys = {self._var_key(v) for v in var_list if getattr(v, ROW_SPARSE_ATTRIBUTE, False)}

    def _is_row_sparse(self, variable) -> bool:
        return self._var_key(variable) in self._row_sparse_keys

    def _use_weight_decay(self, variable):
        # Tables get their decay row by row in `update_step`; a dense pass would touch every row.
        if self._is_row_sparse(variable):
            return False
        return super()._use_weight_decay(variable)

    def _clip_gradients(self, grads):
        # Keras clips an IndexedSlices as it comes (duplicate ids unmerged; `global_clipnorm` densifies it).
        # Here each row-sparse gradient is merged first and Keras' own clipping runs on its values.
        clips = any(c is not None and c > 0 for c in (self.clipnorm, self.clipvalue, self.global_clipnorm))
        if not clips or not any(isinstance(g, tf.IndexedSlices) for g in grads):
            return super()._clip_gradients(grads)
        grads = [_merged(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]
        clipped = super()._clip_gradients([g.values if isinstance(g, tf.IndexedSlices) else g for g in grads])
        return [
            tf.IndexedSlices(c, g.indices, g.dense_shape) if isinstance(g, tf.IndexedSlices) else c
            for g, c in zip(grads, clipped, strict=True)
        ]

    def _slots(self, variable) -> list:
        raise NotImplementedError

    def _update_rows(self, rows, grad, slot_rows, lr):
        raise NotImplementedError

    def _decays_rows(self, variable) -> bool:
        """Whether `variable` is a table whose rows get decoupled weight decay when a batch touches them."""
        return self.weight_decay is not None and self._is_row_sparse(variable) and super()._use_weight_decay(variable)

    def _decay(self, rows, lr):
        return rows - rows * tf.cast(self.weight_decay, rows.dtype) * lr

    def update_step(self, gradient, variable, learning_rate):
        lr = tf.cast(learning_rate, variable.dtype)
        if not isinstance(gradient, tf.IndexedSlices):
            if self._decays_rows(variable):  # a dense gradient on a table (e.g. from a custom loss): every row
                variable.assign(self._decay(tf.convert_to_tensor(variable), lr))
            return super().update_step(gradient, variable, learning_rate)
        indices, grad = _merge_duplicates(gradient)
        grad = tf.cast(grad, variable.dtype)
        slots = [s.value if isinstance(s, keras.Variable) else s for s in self._slots(variable)]
        rows = tf.gather(variable, indices)
        if self._decays_rows(variable):
            rows = self._decay(rows, lr)
        new_rows, new_slot_rows = self._update_rows(rows, grad, [tf.gather(s, indices) for s in slots], lr)
        for slot, new in zip(slots, new_slot_rows, strict=True):
            slot.scatter_update(tf.IndexedSlices(new, indices))
        variable.scatter_update(tf.IndexedSlices(new_rows, indices))


@keras.saving.register_keras_serializable(package="deepfm_keras")
class LazyAdam(RowSparseOptimizer, keras.optimizers.Adam):
    """Adam whose embedding-table updates touch only the rows in the batch (lazy Adam).

    For a row-sparse gradient, only the rows present in the batch get their
    first and second moments and their weights updated, with the Keras `Adam`
    formula and bias correction at the global step; other rows and their
    moments are left as they are. Dense gradients get the stock Keras `Adam`
    update. Takes the arguments of `keras.optimizers.Adam` except `amsgrad`,
    `use_ema` and `gradient_accumulation_steps`.

    Example:

    >>> opt = LazyAdam(learning_rate=1e-3)
    >>> opt.get_config()["beta_1"]
    0.9
    """

    def _slots(self, variable):
        index = self._get_variable_index(variable)
        return [self._momentums[index], self._velocities[index]]

    def _update_rows(self, rows, grad, slot_rows, lr):
        m, v = slot_rows
        step = tf.cast(self.iterations + 1, rows.dtype)
        beta_1_power = tf.pow(tf.cast(self.beta_1, rows.dtype), step)
        beta_2_power = tf.pow(tf.cast(self.beta_2, rows.dtype), step)
        alpha = lr * tf.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        # (1 - beta) in Python floats, as Keras' Adam: 1 - float32(0.999) would be off by 1.3e-5 relative.
        m = m + (grad - m) * (1 - self.beta_1)
        v = v + (tf.square(grad) - v) * (1 - self.beta_2)
        return rows - m * alpha / (tf.sqrt(v) + self.epsilon), [m, v]


@keras.saving.register_keras_serializable(package="deepfm_keras")
class SparseAdagrad(RowSparseOptimizer, keras.optimizers.Adagrad):
    """Adagrad whose embedding-table updates read and write only the rows in the batch.

    Same results as `keras.optimizers.Adagrad` (an untouched row has a zero
    gradient, so neither it nor its accumulator moves), without the stock
    update's table-sized square root at every step.

    Example:

    >>> SparseAdagrad(learning_rate=0.05).get_config()["initial_accumulator_value"]
    0.1
    """

    def _slots(self, variable):
        return [self._accumulators[self._get_variable_index(variable)]]

    def _update_rows(self, rows, grad, slot_rows, lr):
        (accumulator,) = slot_rows
        accumulator = accumulator + tf.square(grad)
        return rows - lr * grad / tf.sqrt(accumulator + self.epsilon), [accumulator]


@keras.saving.register_keras_serializable(package="deepfm_keras")
class RowWiseAdagrad(RowSparseOptimizer, keras.optimizers.Adagrad):
    """Adagrad with ONE accumulator per table row (as TorchRec/FBGEMM's row-wise Adagrad).

    For a table marked row-sparse (every `CategoricalEmbedding` table), the
    accumulator has shape `(rows, 1)`: `acc_r += mean(g_r ** 2)` over the
    row's columns, then `w_r -= lr * g_r / sqrt(acc_r + epsilon)` (epsilon
    inside the root, as Keras `Adagrad`). Its slot memory is
    `1 / embedding_dim` of Adagrad's (1/16 at embedding size 16). Other
    variables (the MLP, `combine`) keep element-wise Keras `Adagrad`.

    FBGEMM's `rowwise_adagrad` (TorchRec's fused tables) starts the
    accumulator at 0 and divides by `sqrt(acc_r) + epsilon`:
    `RowWiseAdagrad(lr, initial_accumulator_value=0.0, epsilon=1e-8,
    epsilon_outside_sqrt=True)` is that formula (1e-8 is FBGEMM's default).

    Args:
        *args: the arguments of `keras.optimizers.Adagrad`.
        epsilon_outside_sqrt: on the tables, divide by `sqrt(acc) + epsilon`
            (FBGEMM) instead of `sqrt(acc + epsilon)`.
        **kwargs: the keyword arguments of `keras.optimizers.Adagrad`.

    Example:

    >>> from deepfm_keras import CategoricalFeature, build_deepfm
    >>> model = build_deepfm([CategoricalFeature("user", 1000)], embedding_dim=16, hidden_units=(8,))
    >>> opt = RowWiseAdagrad(0.05)
    >>> opt.build(model.trainable_variables)
    >>> table = model.get_layer("embedding_categorical").embeddings
    >>> tuple(opt._slots(table)[0].shape)
    (1001, 1)
    """

    def __init__(self, *args, epsilon_outside_sqrt: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(epsilon_outside_sqrt, bool):
            raise ValueError(f"`epsilon_outside_sqrt` should be a bool. Received: {epsilon_outside_sqrt=}")
        self.epsilon_outside_sqrt = epsilon_outside_sqrt

    def get_config(self):
        return {**super().get_config(), "epsilon_outside_sqrt": self.epsilon_outside_sqrt}

    def build(self, var_list):
        if self.built:
            return
        keras.optimizers.Optimizer.build(self, var_list)  # not Adagrad.build: its slots are made here
        self._note_row_sparse(var_list)
        initializer = keras.initializers.Constant(self.initial_accumulator_value)
        self._accumulators = []
        for variable in var_list:
            if self._is_row_sparse(variable):
                strategy = tf.distribute.get_strategy()
                with strategy.extended.colocate_vars_with(variable.value):
                    accumulator = self.add_variable(
                        shape=(variable.shape[0], 1),
                        initializer=initializer,
                        dtype=variable.dtype,
                        name=f"{variable.path.replace('/', '_')}_row_accumulator",
                    )
            else:
                accumulator = self.add_variable_from_reference(variable, "accumulator", initializer=initializer)
            self._accumulators.append(accumulator)

    def _slots(self, variable):
        return [self._accumulators[self._get_variable_index(variable)]]

    def _update_rows(self, rows, grad, slot_rows, lr):
        (accumulator,) = slot_rows
        accumulator = accumulator + tf.reduce_mean(tf.square(grad), axis=1, keepdims=True)
        if self.epsilon_outside_sqrt:
            return rows - lr * grad / (tf.sqrt(accumulator) + self.epsilon), [accumulator]
        return rows - lr * grad / tf.sqrt(accumulator + self.epsilon), [accumulator]

    def update_step(self, gradient, variable, learning_rate):
        if isinstance(gradient, tf.IndexedSlices) or not self._is_row_sparse(variable):
            return super().update_step(gradient, variable, learning_rate)
        # A dense gradient on a row-wise table (e.g. from a custom loss): same formula on every row.
        lr = tf.cast(learning_rate, variable.dtype)
        (accumulator,) = self._slots(variable)
        rows = tf.convert_to_tensor(variable)
        if self._decays_rows(variable):
            rows = self._decay(rows, lr)
        new_rows, (new_accumulator,) = self._update_rows(
            rows, tf.cast(gradient, variable.dtype), [accumulator.value], lr
        )
        accumulator.value.assign(new_accumulator)
        variable.assign(new_rows)


@keras.saving.register_keras_serializable(package="deepfm_keras")
class SparseSGD(RowSparseOptimizer, keras.optimizers.SGD):
    """SGD whose embedding-table updates touch only the rows in the batch.

    Without momentum this is exactly `keras.optimizers.SGD`. With momentum,
    the momentum of a row decays only when the row is in a batch (lazy
    momentum, as TensorFlow's sparse momentum kernels do).

    Example:

    >>> SparseSGD(learning_rate=0.1, momentum=0.9).get_config()["momentum"]
    0.9
    """

    def _slots(self, variable):
        return [self.momentums[self._get_variable_index(variable)]] if self.momentum else []

    def _update_rows(self, rows, grad, slot_rows, lr):
        if not slot_rows:
            return rows - grad * lr, []
        momentum = tf.cast(self.momentum, rows.dtype)
        m = slot_rows[0] * momentum - grad * lr
        step = m * momentum - grad * lr if self.nesterov else m
        return rows + step, [m]


@keras.saving.register_keras_serializable(package="deepfm_keras")
class SparseFtrl(RowSparseOptimizer, keras.optimizers.Ftrl):
    """FTRL-proximal whose embedding-table updates touch only the rows in the batch.

    For a row-sparse gradient this is TensorFlow's sparse FTRL: the result of
    `tf.raw_ops.ResourceSparseApplyFtrlV2` on the merged gradient (duplicate
    ids summed, as TensorFlow's FTRL optimizers feed that kernel) with
    `l2 = l2_regularization_strength + beta / (2 * learning_rate)`, the same
    l1, l2 shrinkage and `lr_power`. The kernel fed unmerged duplicate ids
    would apply one FTRL step per occurrence instead. The formula is the
    Keras `Ftrl` one, applied to the touched rows and their accumulator and
    linear slots only: rows outside the batch keep their weights, where dense
    Keras `Ftrl` sets every row whose linear slot is within l1 to 0 (at step
    1, every row outside the batch).

    Example:

    >>> SparseFtrl(learning_rate=0.05, l1_regularization_strength=0.01).get_config()["l1_regularization_strength"]
    0.01
    """

    def _slots(self, variable):
        index = self._get_variable_index(variable)
        return [self._accumulators[index], self._linears[index]]

    def _update_rows(self, rows, grad, slot_rows, lr):
        accumulator, linear = slot_rows
        power = -self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        shrunk_grad = grad + 2 * self.l2_shrinkage_regularization_strength * rows
        new_accumulator = accumulator + tf.square(grad)
        sigma = (tf.pow(new_accumulator, power) - tf.pow(accumulator, power)) / lr
        linear = linear + shrunk_grad - sigma * rows
        quadratic = tf.pow(new_accumulator, power) / lr + 2 * l2
        l1 = self.l1_regularization_strength
        rows = (tf.clip_by_value(linear, -l1, l1) - linear) / quadratic
        return rows, [new_accumulator, linear]
