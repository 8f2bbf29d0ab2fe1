#!/usr/bin/env bash
# moodscore set-up for a Debian machine. Idempotent: run it again at any time.
#   bash scripts/setup.sh         install everything, then score the bundled example clip
#   bash scripts/setup.sh test    install everything plus the test extras, then run the whole test suite
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-demo}"
case "$mode" in demo|test) ;; *) echo "usage: bash scripts/setup.sh [demo|test]" >&2; exit 2;; esac

# System packages: FluidSynth + a GM soundfont (rendering), espeak-ng (example clip, tests),
# lua5.4 and liblo-tools (REAPER script and OSC interoperability tests), chromium (the web page's browser test,
# driven by Playwright; Playwright's own browser download is not used), redis-server (the Celery runner's tests
# start private servers of their own on loopback; the system service is not needed).
apt_pkgs=(libfluidsynth3 fluid-soundfont-gm espeak-ng lua5.4 liblo-tools)
[ "$mode" = test ] && apt_pkgs+=(chromium redis-server)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
# The CPU build of torch first: a looser requirement would make pip fetch a multi-GB CUDA build.
"$PY" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('2.13.0') else 1)" 2>/dev/null \
  || "$PY" -m pip install -q torch==2.13.0
if [ "$mode" = test ]; then extra="[test]"; else extra="[all]"; fi
"$PY" -m pip install -q -e ".$extra"

if [ "$mode" = demo ]; then
  moodscore demo
else
  "$PY" -m pytest -q
fi
