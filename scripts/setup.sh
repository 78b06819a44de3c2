#!/usr/bin/env bash
# Installs every Debian package the build and the tests need. Idempotent; run as root (or with sudo).
set -euo pipefail
PACKAGES=(
  build-essential cmake ninja-build pkg-config
  nlohmann-json3-dev libpcre2-dev libopenblas-dev libgloo-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsentencepiece-dev
  pybind11-dev python3-dev python3-pytest python3-numpy python3-setuptools python3-wheel python3-pip
  openmpi-bin libopenmpi-dev
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
