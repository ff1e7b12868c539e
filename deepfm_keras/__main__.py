"""`python -m deepfm_keras ...` is the `deepfm-keras` command (see `deepfm_keras_cli`).

`python -m deepfm_keras_cli ...` is the same command without importing the package before its arguments
are parsed (so it answers `--help` at once and silences TensorFlow's start-up notices).
"""

import sys

from deepfm_keras_cli import main

if __name__ == "__main__":
    sys.exit(main())
