#!/usr/bin/env bash
# Creates benchmarks/.venv-tfkeras: TensorFlow-CPU 2.21 with tf-keras 2.21 (Keras 2) and DeepCTR 0.9.4, the
# DeepCTR contender of vocab_scaling.py. DeepCTR on Keras 3 cannot build a model with numeric DenseFeat
# features (its add_weight call), so this peer runs on tf-keras (TF_USE_LEGACY_KERAS=1). Idempotent.
#
#   bash benchmarks/setup_tfkeras_peer.sh [python]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-tfkeras"
py="${1:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv"
fi
pip() { "$venv/bin/python" -m pip "$@"; }
pip install --quiet --upgrade pip
pip install --quiet "tensorflow-cpu==2.21.0" "tf-keras==2.21.0" "deepctr==0.9.4" "pandas>=2.0"
HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 \
    "$venv/bin/python" - <<'PY' 2>/dev/null
import deepctr, tensorflow as tf
print(f"deepctr {deepctr.__version__}, tensorflow {tf.__version__}, keras {tf.keras.__version__}")
PY
