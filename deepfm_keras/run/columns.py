"""The `[features]` section of a run config as an unfitted `FeatureEncoder` (option tables become columns)."""

from __future__ import annotations

from collections.abc import Mapping

from deepfm_keras.run.config import FeaturesConfig
from deepfm_keras.run.values import ConfigError


def make_encoder(features: FeaturesConfig):
    """The unfitted `FeatureEncoder` of a `[features]` section (option tables become column specs).

    Raises:
        ConfigError: naming the key (`features.multi_categorical.history`,
            `features.categorical[2]`) of an option the column refuses, or the
            columns that cannot go together (a shared table whose columns
            differ in `min_count`, say).
    """
    from deepfm_keras.encoding import (
        BucketizedColumn,
        CategoricalColumn,
        FeatureEncoder,
        MultiCategoricalColumn,
        NumericColumn,
        NumericSequenceColumn,
    )

    def build(cls, key, options, defaults):
        options = dict(options)
        if "weight" in options and cls is MultiCategoricalColumn:  # `weight` is short for `weight_column`
            if "weight_column" in options:
                raise ConfigError(f"`{key}` gives both `weight` and `weight_column`: give one.")
            options["weight_column"] = options.pop("weight")
        try:
            return cls(**{**defaults, **options})
        except (TypeError, ValueError) as error:
            raise ConfigError(f"`{key}` = {options!r}: {error}") from None

    def columns(entries, cls, kind, **defaults):
        if isinstance(entries, Mapping):  # {column: separator or options}
            return [
                build(
                    cls,
                    f"features.{kind}.{col}",
                    {"name": col, "separator": opt} if isinstance(opt, str) else {"name": col, **opt},
                    defaults,
                )
                for col, opt in entries.items()
            ]
        out = []
        for i, entry in enumerate(entries or ()):
            if isinstance(entry, str) and not defaults:
                out.append(entry)
            else:
                out.append(
                    build(cls, f"features.{kind}[{i}]", {"name": entry} if isinstance(entry, str) else entry, defaults)
                )
        return out

    min_count = features.min_count
    try:
        return FeatureEncoder(
            numeric=columns(features.numeric, NumericColumn, "numeric"),
            categorical=[
                *columns(features.categorical, CategoricalColumn, "categorical", min_count=min_count),
                *columns(features.bucketized, BucketizedColumn, "bucketized"),
            ],
            multi_categorical=columns(
                features.multi_categorical,
                MultiCategoricalColumn,
                "multi_categorical",
                min_count=min_count,
                max_len=features.max_len,
            )
            or None,
            numeric_sequence=columns(features.numeric_sequence, NumericSequenceColumn, "numeric_sequence") or None,
            min_count=min_count,
        )
    except ValueError as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"[features]: {error}") from None
