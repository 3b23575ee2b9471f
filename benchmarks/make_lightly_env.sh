#!/usr/bin/env bash
# lightly's own Python environment, for the lightly variants of the benchmarks.
#
# lightly depends on hydra-core, whose releases (1.3.8 the latest) pin omegaconf < 2.4, while this
# project needs omegaconf >= 2.4: the two cannot share an environment that passes `pip check`.
# The benchmark scripts run in the project's environment and start their lightly variant with
# this environment's interpreter (--lightly-python, default benchmarks/.venv-lightly/bin/python).
# torch, torchvision, numpy and Pillow are pinned to the project environment's versions, so both
# sides of a comparison run the same kernels and the same image decoding.
#
# Usage: benchmarks/make_lightly_env.sh [ENV_DIR]     (default benchmarks/.venv-lightly)
#   PROJECT_PYTHON=python3   the project's interpreter, whose versions are copied
#   pip's own variables (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, ...) choose where wheels come from.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECT_PYTHON=${PROJECT_PYTHON:-python3}
ENV_DIR=${1:-benchmarks/.venv-lightly}
LIGHTLY=${LIGHTLY:-"lightly>=1.6,<1.7"}

pins=$("$PROJECT_PYTHON" - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in ("torch", "torchvision", "numpy", "pillow")))
EOF
)
echo "make_lightly_env: $ENV_DIR with $LIGHTLY and $pins"
"$PROJECT_PYTHON" -m venv --clear "$ENV_DIR"
# shellcheck disable=SC2086  # $pins is a list of requirements
"$ENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "$LIGHTLY" $pins
"$ENV_DIR/bin/python" -m pip check --disable-pip-version-check
"$ENV_DIR/bin/python" -c 'import lightly, torch; print(f"make_lightly_env: done (lightly {lightly.__version__}, torch {torch.__version__})")'
