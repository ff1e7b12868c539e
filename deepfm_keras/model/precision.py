"""The dtype policy `build_deepfm` uses by default, picked at run time from what the machine has.

For a binary (click) model on a CPU with bfloat16 instructions (`amx_bf16` or
`avx512_bf16` among the processor flags) and no GPU: `mixed_bfloat16`
(bfloat16 matmuls, float32 variables and output): there it trains faster at
the same holdout AUC. Elsewhere `float32`: regression models (which lost
holdout RMSE in bfloat16), GPUs (not measured), and CPUs without those
instructions (which emulate bfloat16 slowly). The measurements behind the
choice are in benchmarks/README.md ("Figures behind the package's defaults").

The environment variable `DEEPFM_KERAS_DTYPE_POLICY` (e.g. `float32`)
overrides the choice; so does a global policy set with
`keras.config.set_dtype_policy`, or `build_deepfm(dtype_policy=...)`.
"""

from __future__ import annotations

import os

ENVIRONMENT_VARIABLE = "DEEPFM_KERAS_DTYPE_POLICY"
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The processor's feature flags as Linux reports them (empty where `path` cannot be read).

    Example:

    >>> isinstance(cpu_flags(), frozenset)
    True
    """
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def default_dtype_policy(
    *, task: str = "binary", flags: frozenset[str] | None = None, has_gpu: bool | None = None
) -> str:
    """`"mixed_bfloat16"` for a binary model on a bfloat16-capable CPU without GPUs, else `"float32"`.

    `DEEPFM_KERAS_DTYPE_POLICY`, when set, is returned as it is.

    Args:
        task: the model's task (`"binary"` or `"regression"`).
        flags: the CPU flags (default: `cpu_flags()`).
        has_gpu: whether TensorFlow sees a GPU (default: asks TensorFlow).

    Returns:
        A Keras dtype policy name.

    Example:

    >>> default_dtype_policy(flags=frozenset({"avx2"}), has_gpu=False)  # no bfloat16 instructions
    'float32'
    """
    override = os.environ.get(ENVIRONMENT_VARIABLE)
    if override:
        return override
    if task != "binary":
        return "float32"
    if has_gpu is None:
        import tensorflow as tf

        has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if has_gpu:
        return "float32"
    flags = cpu_flags() if flags is None else flags
    return "mixed_bfloat16" if any(flag in flags for flag in BF16_CPU_FLAGS) else "float32"
