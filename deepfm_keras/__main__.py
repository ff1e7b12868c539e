"""`python -m deepfm_keras ...` is the `deepfm-keras` command (see `deepfm_keras.cli`)."""

import sys

from deepfm_keras.cli import main

if __name__ == "__main__":
    sys.exit(main())
