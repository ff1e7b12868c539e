"""How a list of ids (or numbers) becomes one vector: the combiners the features, columns and layers accept.

Example:

>>> COMBINERS
('mean', 'sum', 'max')
"""

COMBINERS = ("mean", "sum", "max")
"""The combiners of a multi-level field: mean (masked, the default), sum, max over the non-padding positions."""
