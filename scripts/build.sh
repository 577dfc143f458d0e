#!/usr/bin/env bash
# Builds catalogsync and installs every program of the Makefile's PROGRAMS:
# the one build script, run by deploy/Dockerfile's build stage and by the
# test suite (tests/integration/test_deploy.py) without a container engine.
#
#   scripts/build.sh [--prefix DIR] [--destdir DIR] [--jobs N]
#
#   --prefix DIR    installation prefix (default /usr/local)
#   --destdir DIR   staging root, as make's DESTDIR (default: none, install for real)
#   --jobs N        parallel compile jobs (default: the number of cores)
#
# BUILD (environment) names the build directory (default build).  Ends with
# "build: installed N programs into DIR" and lists them.
set -eu
cd "$(dirname "$0")/.."

PREFIX=/usr/local
DEST=""
JOBS=$(nproc 2>/dev/null || echo 2)
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --destdir) DEST=${2:?--destdir needs a directory}; shift 2 ;;
    --jobs) JOBS=${2:?--jobs needs a number}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "build: unknown argument $1 (see --help)" >&2; exit 64 ;;
  esac
done
BUILD_DIR=${BUILD:-build}

make -j"$JOBS" BUILD="$BUILD_DIR" all
make BUILD="$BUILD_DIR" install PREFIX="$PREFIX" DESTDIR="$DEST"

bindir="$DEST$PREFIX/bin"
n=0
for p in "$bindir"/*; do
  [ -x "$p" ] || continue
  echo "  $p"
  n=$((n + 1))
done
echo "build: installed $n programs into $bindir"
