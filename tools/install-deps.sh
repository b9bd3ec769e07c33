#!/usr/bin/env bash
# Installs the Debian packages xclip.cpp needs, only those that are missing.
# Fast (no apt-get at all) when everything is already present.
#   tools/install-deps.sh            build + test dependencies
#   tools/install-deps.sh --reference  also PyTorch etc. for tools/reference/ (offline test-vector makers)
set -euo pipefail

BUILD_PKGS=(
  cmake g++ make pkg-config zlib1g-dev
  libavcodec-dev libavformat-dev libswscale-dev libavutil-dev
  libstb-dev nlohmann-json3-dev catch2
)
REFERENCE_PKGS=(python3-torch python3-numpy libopenblas0-pthread ffmpeg python3-opencv python3-pil)

want=("${BUILD_PKGS[@]}")
if [[ "${1:-}" == "--reference" ]]; then want+=("${REFERENCE_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
