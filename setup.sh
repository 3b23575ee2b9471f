#!/usr/bin/env bash
# Set-up: Fashion-MNIST for offline use (Debian's dataset-fashion-mnist) where the system allows,
# then this package, its test tools and its documentation tools into the active Python environment.
set -euo pipefail
cd "$(dirname "$0")"

FASHION_MNIST=/usr/share/datasets/fashion-mnist
if [ ! -d "$FASHION_MNIST" ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        SUDO=none
    fi
    if [ "$SUDO" != none ]; then
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist; } \
            || echo "setup: dataset-fashion-mnist not installed; torchvision will download it"
    fi
fi
[ -d "$FASHION_MNIST" ] || echo "setup: no $FASHION_MNIST; Fashion-MNIST will be downloaded on first use"

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev,docs]"
echo "setup: done ($(python3 -c 'import torch; print("torch", torch.__version__)'))"
