"""The DeepCTR 0.9.4 contender: its `DeepFM` with the same features and hyperparameters, on NumPy."""

from __future__ import annotations

from .measure import epoch_timer, time_inference, train_summary
from .task import BATCH, EMBEDDING_DIM, GENRES_LEN, HIDDEN, INFER_BATCH, LEARNING_RATE, SINGLE, loss_name


def run(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    # DeepCTR checks PyPI for a newer version in a thread at import (see the peers notes): the
    # environment routes it to a closed local port, and requests.get fails at once here too.
    import requests

    def _offline(*_args, **_kwargs):
        raise requests.exceptions.ConnectionError("offline benchmark")

    requests.get = _offline
    import deepctr
    import keras
    from deepctr.feature_column import SparseFeat, VarLenSparseFeat, get_feature_names
    from deepctr.models import DeepFM

    keras.utils.set_random_seed(args.seed)
    columns = [SparseFeat(name, vocabulary_size=vocab[name], embedding_dim=EMBEDDING_DIM) for name in SINGLE]
    columns.append(
        VarLenSparseFeat(
            SparseFeat("genres", vocabulary_size=vocab["genres"], embedding_dim=EMBEDDING_DIM),
            maxlen=GENRES_LEN,
            combiner="mean",
        )
    )
    model = DeepFM(
        columns,
        columns,
        dnn_hidden_units=HIDDEN,
        l2_reg_linear=0.0,
        l2_reg_embedding=0.0,
        l2_reg_dnn=0.0,
        dnn_dropout=0.0,
        dnn_activation="relu",
        seed=args.seed,
        task=args.task,
    )
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss_name(args.task))
    names = get_feature_names(columns)
    train_in = {n: x_train[n] for n in names}
    test_in = {n: x_test[n] for n in names}
    timer = epoch_timer()
    model.fit(train_in, y_train, batch_size=BATCH, epochs=args.epochs, verbose=0, shuffle=True, callbacks=[timer])
    result = train_summary(timer, len(y_train))
    predict = lambda: model.predict(test_in, batch_size=INFER_BATCH, verbose=0)  # noqa: E731
    result.update(time_inference(predict, len(y_test), args.infer_repeats))
    result["settings"] = {"deepctr": deepctr.__version__, "pipeline": "NumPy through Keras' array adapter"}
    result["params"] = model.count_params()
    return result
