#!/usr/bin/env bash
# Set-up: Fashion-MNIST for offline use (Debian's dataset-fashion-mnist) and Chromium for the
# browser test where the system allows, then this package, its test tools and its documentation
# tools into the active Python environment.
set -euo pipefail
cd "$(dirname "$0")"

FASHION_MNIST=/usr/share/datasets/fashion-mnist
# Debian packages, where the system allows (root or passwordless sudo): Fashion-MNIST, and the
# browser test of `simclr serve` (Chromium and its chromedriver; the test is skipped without them)
PACKAGES=()
[ -d "$FASHION_MNIST" ] || PACKAGES+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || PACKAGES+=(chromium)
command -v chromedriver >/dev/null 2>&1 || PACKAGES+=(chromium-driver)
if [ "${#PACKAGES[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        SUDO=none
    fi
    if [ "$SUDO" != none ]; then
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null; } \
            || echo "setup: ${PACKAGES[*]} not installed (Fashion-MNIST is then downloaded on first use)"
    fi
fi
[ -d "$FASHION_MNIST" ] || echo "setup: no $FASHION_MNIST; Fashion-MNIST will be downloaded on first use"

python3 -m pip install --quiet --disable-pip-version-check -e ".[dev,docs]"
echo "setup: done ($(python3 -c 'import torch; print("torch", torch.__version__)'))"
