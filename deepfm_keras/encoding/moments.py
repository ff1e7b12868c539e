"""What numeric columns learn from their values: count, mean and variance, merged exactly across chunks of a table.

`moments` reads the prepared (clipped, log1p-transformed) values of a column,
`Moments.merged` combines two chunks' moments, `mean_std` gives the mean and
std a column standardises with. `FeatureEncoder.fit` computes the moments of
the whole column; `fit_chunks` merges those of its chunks.

>>> a, b = Moments(2, 1.0, 1.0), Moments(2, 3.0, 1.0)  # [0, 2] and [2, 4]
>>> a.merged(b)
Moments(count=4, mean=2.0, var=2.0)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from deepfm_keras.encoding.layers import NumericTransform


def infinite(name: str) -> ValueError:
    return ValueError(
        f"Column '{name}' holds infinite values; the encoder cannot standardise +-inf. "
        "Replace them, or clip the column (NumericColumn(clip_min=..., clip_max=...))."
    )


@dataclasses.dataclass(frozen=True)
class Moments:
    """Count, mean and (population) variance of a column's prepared values: what chunks of a table merge exactly."""

    count: int
    mean: float
    var: float

    def merged(self, other: Moments) -> Moments:
        """The moments of both sets of values together (Chan et al.'s pairwise update)."""
        if not other.count:
            return self
        if not self.count:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        var = (
            self.count * self.var + other.count * other.var + delta * delta * self.count * other.count / count
        ) / count
        return Moments(count, mean, var)


def moments(column, values: np.ndarray) -> Moments:
    """The moments of the clipped, log1p-transformed finite values (NaN is missing; infinity is refused)."""
    layer = NumericTransform(log1p=column.log1p, clip_min=column.clip_min, clip_max=column.clip_max)
    prepared = layer.prepare(values).numpy()
    if np.isinf(prepared).any():
        raise infinite(column.name)
    finite = prepared[~np.isnan(prepared)]
    if not column.standardize or not finite.size:
        return Moments(int(finite.size), 0.0, 1.0)
    return Moments(int(finite.size), float(finite.mean()), float(finite.var()))


def mean_std(column, moments: Moments) -> tuple[float, float]:
    """Mean and std to standardise with (0 and 1 when not standardised or nothing was seen)."""
    mean, std = 0.0, 1.0
    if column.standardize and moments.count:
        mean, std = moments.mean, float(np.sqrt(moments.var))
        if not (np.isfinite(mean) and np.isfinite(std)):
            raise ValueError(f"Column '{column.name}' holds values too large to standardise.")
    return mean, std if std > 0 else 1.0
