#!/usr/bin/env bash
# Installs the Debian packages nndiff needs to build, test and fuzz.
# Idempotent and quick when everything is already there.
#   tools/install_deps.sh          build + test dependencies
#   tools/install_deps.sh --build  only what building nndiff needs
#   tools/install_deps.sh --photos real photos for the demo (python3-skimage's data)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libjson-c-dev libjpeg62-turbo-dev libpng-dev
  libzip-dev libopenblas-dev libdnnl-dev)
test_pkgs=(clang libclang-rt-14-dev python3-venv python3-pip python3-torch python3-torchvision
  python3-skimage)

case "${1:-}" in
  --build) pkgs=("${build_pkgs[@]}") ;;
  --photos) pkgs=(python3-skimage) ;;
  *) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "nndiff: installing Debian packages: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "nndiff: need root (or sudo) to apt-get install: ${missing[*]}" >&2; exit 2; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
