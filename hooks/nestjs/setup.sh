#!/usr/bin/env bash
# Installs the NestJS hook's npm packages exactly as package-lock.json pins
# them (npm ci) and compiles src/ into dist/ with tsc.  Does nothing when the
# lock file and the sources did not change since the last run.  The tests
# (tests/integration/test_hooks_nestjs.py) run it; so can you.
set -eu
cd "$(dirname "$0")"
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "nestjs hook: $tool is missing (scripts/deps.sh installs it)" >&2; exit 1; }
done
exec 9> .setup.lock
flock 9

want=$(sha256sum package-lock.json | cut -d' ' -f1)
stamp=node_modules/.catalogsync-lock-sha256
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "nestjs hook: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
  rm -f dist/.built
fi
if [ ! -f dist/.built ] || [ -n "$(find src tsconfig.json -newer dist/.built -print -quit)" ]; then
  echo "nestjs hook: tsc"
  rm -rf dist
  node_modules/.bin/tsc -p tsconfig.json
  touch dist/.built
fi
echo "nestjs hook: ready (node $(node --version), dist/cli.js)"
