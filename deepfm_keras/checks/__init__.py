"""Checks of model inputs, labels and weights: `graph` holds the in-graph checks of every training batch."""
