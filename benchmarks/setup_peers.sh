#!/usr/bin/env bash
# Creates benchmarks/.venv-bench, the one virtualenv every contender of benchmark_movielens.py
# runs in: TensorFlow-CPU 2.21 (native Keras 3), DeepCTR 0.9.4, and deepfm_keras from this
# checkout (editable, without its test/notebook extras). One environment for all contenders
# keeps the comparison fair: same TensorFlow build, same imports, same baseline memory.
# Idempotent.
#
#   bash benchmarks/setup_peers.sh [python]   # default python: python3.11, else python3
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-bench"
py="${1:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
pip() { "$venv/bin/python" -m pip "$@"; }
pip install --quiet --upgrade pip
# tensorflow-cpu pins the CPU-only wheel; DeepCTR 0.9.4 runs on the Keras 3 that it brings
# (no TF_USE_LEGACY_KERAS, no tf-keras).
pip install --quiet "tensorflow-cpu==2.21.0" "deepctr==0.9.4"
pip install --quiet -e "$here/.."
# DeepCTR asks the package index for a newer version in a thread at import: route it to a
# closed local port so it fails at once (benchmark_movielens.py does the same).
HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 TF_CPP_MIN_LOG_LEVEL=2 \
    "$venv/bin/python" - <<'PY' 2>/dev/null
import deepctr, deepfm_keras, keras, tensorflow as tf
print(f"deepctr {deepctr.__version__}, deepfm_keras {deepfm_keras.__version__}, "
      f"keras {keras.__version__}, tensorflow {tf.__version__}")
PY
