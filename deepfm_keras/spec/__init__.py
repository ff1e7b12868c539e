"""What a model is made of, written once.

- `features.py`: the feature dataclasses (`NumericFeature`, `CategoricalFeature`, `MultiCategoricalFeature`,
  `NumericSequenceFeature`), their JSON form, the field order;
- `tasks.py`: `Task` and THE task table (`TASK_KINDS`: activation, loss, metric, what early stopping watches);
- `names.py`: the name rule of features, inputs and heads;
- `pooling.py`: the combiners of multi-level fields.
"""
