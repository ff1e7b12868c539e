"""What a model is made of, written once.

- `features.py`: the feature dataclasses (`NumericFeature`, `CategoricalFeature`, `MultiCategoricalFeature`,
  `NumericSequenceFeature`) and their JSON form;
- `feature_spec.py`: a spec as a whole: `normalize_spec` (the checks), the field order, its JSON form;
- `tasks.py`: `Task` and THE task table (`TASK_KINDS`: activation, loss, metric, what early stopping watches);
- `names.py`: the name rule of features, inputs and heads;
- `pooling.py`: the combiners of multi-level fields.
"""
