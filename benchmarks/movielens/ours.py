"""The deepfm_keras contenders: the README's path (`deepfm_keras`) and its pinned variants."""

from __future__ import annotations

from .measure import epoch_timer, time_inference, train_summary
from .task import BATCH, EMBEDDING_DIM, GENRES_LEN, HIDDEN, INFER_BATCH, SINGLE, loss_name

# deepfm_keras: build_deepfm's own choice (dtype_policy="auto": mixed_bfloat16 on CPUs with bfloat16
# instructions, float32 elsewhere); the others pin it.
POLICY = {"deepfm_keras_bf16": "mixed_bfloat16", "deepfm_keras_fp32": "float32", "deepfm_keras_xla": "float32"}


def run(x_train, y_train, x_test, y_test, vocab, args) -> dict:
    import keras

    from deepfm_keras import CategoricalFeature, MultiCategoricalFeature, batch_predict, build_deepfm, make_dataset

    jit = args.worker == "deepfm_keras_xla"
    keras.utils.set_random_seed(args.seed)
    spec = [CategoricalFeature(name, vocab[name]) for name in SINGLE]
    spec.append(MultiCategoricalFeature("genres", vocab["genres"], max_len=GENRES_LEN))
    model = build_deepfm(
        spec,
        embedding_dim=EMBEDDING_DIM,
        hidden_units=HIDDEN,
        task=args.task,
        dtype_policy=POLICY.get(args.worker, "auto"),
    )
    # Exactly what the README shows: the name "adam" (LazyAdam, learning rate 1e-3 = LEARNING_RATE) and the
    # model's own compile defaults (steps_per_execution=32, no XLA), except for the XLA variant.
    model.compile(optimizer="adam", loss=loss_name(args.task), **({"jit_compile": True} if jit else {}))
    train_ds = make_dataset(x_train, y_train, batch_size=BATCH, shuffle=True, seed=args.seed)
    test_ds = make_dataset(x_test, None, batch_size=INFER_BATCH, shuffle=False)
    rows_train, rows_test = len(y_train), len(y_test)
    x_train.clear()  # the dataset holds its own tensors; drop the NumPy copies

    timer = epoch_timer()
    model.fit(train_ds, epochs=args.epochs, verbose=0, shuffle=False, callbacks=[timer])
    result = train_summary(timer, rows_train)

    # Serving-style inference: one compiled call per 8192-row batch, no predict() machinery.
    infer_jit = jit if args.infer_jit == "auto" else args.infer_jit == "on"

    def predict():
        return batch_predict(model, x_test, batch_size=INFER_BATCH, jit_compile=infer_jit)

    result.update(time_inference(predict, rows_test, args.infer_repeats))
    via_predict = time_inference(lambda: model.predict(test_ds, verbose=0), rows_test, args.infer_repeats, "predict")
    via_predict.pop("predictions")
    result.update(via_predict)
    result["settings"] = {
        "jit_compile": jit,
        "steps_per_execution": model.steps_per_execution,
        "inference_jit_compile": infer_jit,
        "dtype_policy": model.get_layer("deep").dtype_policy.name,
        "pipeline": "deepfm_keras.preprocessing.make_dataset",
        "inference": "deepfm_keras.batch_predict (one compiled call per batch)",
    }
    result["params"] = model.count_params()
    return result
