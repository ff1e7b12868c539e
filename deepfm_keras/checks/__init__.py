"""Checks of model inputs, labels and weights, read from the spec the model keeps.

- `fields.py`: what a model's inputs expect (`Field`, `model_fields`, `model_tasks`), binding a dict by name;
- `arrays.py`: the eager checks where arrays enter (inputs, labels, scores, sample and class weights);
- `graph.py`: the in-graph checks of every training and evaluation batch.

`deepfm_keras.validation` is their public face.
"""
