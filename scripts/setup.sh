#!/usr/bin/env bash
# Installs every Debian package the build and the tests need. Idempotent; run as root (or with sudo).
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache  # ccache: cmake/compiler_cache.cmake
  nlohmann-json3-dev libpcre2-dev libopenblas-dev libgloo-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsentencepiece-dev libcpp-httplib-dev
  pybind11-dev libdlpack-dev python3-dev python3-pytest python3-numpy python3-venv python3-pip
  openmpi-bin libopenmpi-dev
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# Python packages from PyPI for the tests, in the project's virtual environment .venv (it sees Debian's numpy and
# pytest through --system-site-packages, and the build's extension is built for the same /usr/bin/python3):
# PyPI's torch (Debian 12's python3-torch is 1.13, too old for torch.distributed's current API and without
# CUDA builds) for the co-location tests, transformers as the trainer of the RLHF example and a reference, and
# OpenAI's client for the server tests.
# pip's cache keeps the large torch wheel for later runs on the same machine.
VENV=${SHARDLM_VENV:-.venv}
PY_PACKAGES=(torch==2.15.0 transformers==5.25.0 openai==3.63.0)
if [[ ! -x $VENV/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if ! "$VENV/bin/python" -c "import torch, transformers, openai" 2>/dev/null; then
  echo "setup: installing ${PY_PACKAGES[*]} into $VENV (PyPI)"
  "$VENV/bin/python" -m pip install -q "${PY_PACKAGES[@]}"
else
  echo "setup: $VENV has torch, transformers and openai"
fi
