"""The plain Keras 3 contender: the DeepFM a Keras user writes in an afternoon."""

from __future__ import annotations

from .measure import epoch_timer, time_inference, train_summary
from .task import BATCH, EMBEDDING_DIM, GENRES_LEN, HIDDEN, INFER_BATCH, LEARNING_RATE, SINGLE, loss_name


def run(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    """One Embedding per field, Concatenate, a Dense stack, fit and predicted on NumPy."""
    import keras
    from keras import layers, ops

    keras.utils.set_random_seed(args.seed)
    inputs, embeddings, linear = [], [], []
    for name in SINGLE:
        x = keras.Input(shape=(1,), dtype="int32", name=name)
        inputs.append(x)
        embeddings.append(layers.Embedding(vocab[name], EMBEDDING_DIM, name=f"{name}_emb")(x))
        linear.append(layers.Embedding(vocab[name], 1, name=f"{name}_w")(x))
    genres = keras.Input(shape=(GENRES_LEN,), dtype="int32", name="genres")
    inputs.append(genres)
    pool = layers.GlobalAveragePooling1D(keepdims=True)
    embeddings.append(pool(layers.Embedding(vocab["genres"], EMBEDDING_DIM, mask_zero=True)(genres)))
    linear.append(pool(layers.Embedding(vocab["genres"], 1, mask_zero=True)(genres)))

    fields = layers.Concatenate(axis=1)(embeddings)  # (batch, 7, 16)
    first_order = ops.sum(layers.Concatenate(axis=1)(linear), axis=(1, 2))[:, None]
    square_of_sum = ops.square(ops.sum(fields, axis=1))
    sum_of_square = ops.sum(ops.square(fields), axis=1)
    second_order = 0.5 * ops.sum(square_of_sum - sum_of_square, axis=1, keepdims=True)
    deep = layers.Flatten()(fields)
    for units in HIDDEN:
        deep = layers.Dense(units, activation="relu")(deep)
    deep = layers.Dense(1)(deep)
    logit = layers.Add()([first_order, second_order, deep])
    output = layers.Activation("sigmoid" if args.task == "binary" else "linear")(logit)
    model = keras.Model(inputs, output)
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss_name(args.task))
    timer = epoch_timer()
    model.fit(x_train, y_train, batch_size=BATCH, epochs=args.epochs, verbose=0, shuffle=True, callbacks=[timer])
    result = train_summary(timer, len(y_train))
    predict = lambda: model.predict(x_test, batch_size=INFER_BATCH, verbose=0)  # noqa: E731
    result.update(time_inference(predict, len(y_test), args.infer_repeats))
    result["settings"] = {"pipeline": "NumPy through Keras' array adapter"}
    result["params"] = model.count_params()
    return result
