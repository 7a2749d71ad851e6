#!/usr/bin/env bash
# `make engine`: the Pulumi CLI, a Python language host and the provider plugins relval's
# program needs, left at .tools/pulumi/bin (CLI + language host) and .tools/pulumi/home
# (PULUMI_HOME, with the plugins installed).
#
# A `pulumi` of a supported version already on PATH is used as is, and the plugins are
# installed the usual way (from Pulumi's plugin downloads). Otherwise everything is built
# from the Go module proxy into a cache outside the repository, keyed by version, so a
# second run only links and installs (seconds).
#
# Versions (see the README, "The engine"): the Python SDKs pin pulumi 3.272.0,
# pulumi-openstack 5.5.3, pulumi-random 4.21.4 and pulumi-tls 5.6.2. The proxy this project
# reaches does not serve pkg/v3@v3.272.0 nor the language host and provider modules, so the
# CLI is the nearest served release (3.274.0, newer than the SDK, which Pulumi supports), and
# the language host and plugins are built from engine/ over the modules that are served.
set -euo pipefail

CLI_VERSION=3.274.0
SDK_VERSION=3.272.0            # what requirements.txt pins; a CLI on PATH at this version is used
OPENSTACK_VERSION=5.5.3
RANDOM_VERSION=4.21.4
TLS_VERSION=5.6.2

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS=$ROOT/.tools/pulumi
CACHE=${RELVAL_ENGINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/relval/engine}
export GOFLAGS=-mod=mod CGO_ENABLED=0

say() { printf 'engine: %s\n' "$*" >&2; }

# build NAME VERSION SRC_DIR PACKAGE LDFLAGS: go build SRC_DIR's PACKAGE into
# $CACHE/NAME-VERSION/NAME unless it is already there. The source is copied into the cache
# because go build may have to complete go.sum, and the repository stays clean.
build() {
  local name=$1 version=$2 src=$3 pkg=$4 ldflags=$5
  local dir=$CACHE/$name-$version key
  # The key covers relval's own Go sources too, so an edit rebuilds.
  key=$(cd "$src" && find . -type f \( -name '*.go' -o -name 'go.mod' \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
  if [ -x "$dir/$name" ] && [ "$(cat "$dir/.key" 2>/dev/null)" = "$key" ]; then
    return
  fi
  say "building $name $version (minutes on a cold cache)"
  rm -rf "$dir/src" && mkdir -p "$dir/src" && cp -r "$src/." "$dir/src/"
  (cd "$dir/src" && go build -trimpath -tags osusergo,grpcnotrace -ldflags "-s -w $ldflags" -o "$dir/$name.tmp" "$pkg")
  mv "$dir/$name.tmp" "$dir/$name"
  echo "$key" > "$dir/.key"
}

cli_version() { "$1" version 2>/dev/null | sed 's/^v//'; }

# The openstack provider's package schema, for relval's offline check of what the program
# declares (infra/provider_schema.py; its tests fail without it when RELVAL_REQUIRE_ENGINE=1).
# Written to a temporary name first: a failed run never leaves half a schema.
SCHEMA=$TOOLS/schema/openstack.json
write_schema() {
  mkdir -p "$(dirname "$SCHEMA")"
  "$@" > "$SCHEMA.tmp"
  mv "$SCHEMA.tmp" "$SCHEMA"
  say "schema: $SCHEMA"
}

mkdir -p "$TOOLS/bin" "$TOOLS/home"
export PULUMI_HOME=$TOOLS/home PULUMI_SKIP_UPDATE_CHECK=true PULUMI_DIY_BACKEND_GZIP=false

onpath=$(command -v pulumi || true)
if [ -n "$onpath" ] && [ "$(readlink -f "$onpath")" != "$(readlink -f "$TOOLS/bin/pulumi" 2>/dev/null)" ] \
   && { v=$(cli_version "$onpath"); [ "$v" = "$SDK_VERSION" ] || [ "$v" = "$CLI_VERSION" ]; }; then
  say "using pulumi $v from $onpath"
  dir=$(dirname "$(readlink -f "$onpath")")
  for f in pulumi pulumi-language-python pulumi-language-python-exec; do
    ln -sf "$dir/$f" "$TOOLS/bin/$f"
  done
  for p in "openstack $OPENSTACK_VERSION" "random $RANDOM_VERSION" "tls $TLS_VERSION"; do
    # shellcheck disable=SC2086
    "$TOOLS/bin/pulumi" plugin install resource $p >/dev/null
  done
  write_schema "$TOOLS/bin/pulumi" package get-schema "openstack@$OPENSTACK_VERSION"
  say "ready: $TOOLS/bin/pulumi (PULUMI_HOME=$TOOLS/home)"
  exit 0
fi

command -v go >/dev/null || { say "needs Go (https://go.dev/dl) or a pulumi $SDK_VERSION on PATH"; exit 2; }

# The CLI: pkg/v3 has replace directives, so it is built from a wrapper module (engine/cli).
build pulumi "$CLI_VERSION" "$ROOT/engine/cli" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$CLI_VERSION"
build pulumi-language-python "$CLI_VERSION" "$ROOT/engine/langhost" . "-X main.Version=$CLI_VERSION"
build pulumi-resource-openstack "$OPENSTACK_VERSION" "$ROOT/engine/providers/openstack" . "-X main.Version=$OPENSTACK_VERSION"
build pulumi-resource-random "$RANDOM_VERSION" "$ROOT/engine/providers/random" . "-X main.Version=$RANDOM_VERSION"
build pulumi-resource-tls "$TLS_VERSION" "$ROOT/engine/providers/tls" . "-X main.Version=$TLS_VERSION"

# Hard links (copies across file systems), not symlinks: the CLI looks for its language host
# beside its own resolved path.
place() { ln -f "$1" "$2" 2>/dev/null || cp -f "$1" "$2"; }
place "$CACHE/pulumi-$CLI_VERSION/pulumi" "$TOOLS/bin/pulumi"
place "$CACHE/pulumi-language-python-$CLI_VERSION/pulumi-language-python" "$TOOLS/bin/pulumi-language-python"
# The SDK's launcher script must sit beside the language host.
launcher=$(cd "$CACHE" && go mod download -json "github.com/pulumi/pulumi/sdk/v3@v$CLI_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
install -m 0755 "$launcher/python/cmd/pulumi-language-python-exec" "$TOOLS/bin/pulumi-language-python-exec"

for p in "openstack $OPENSTACK_VERSION" "random $RANDOM_VERSION" "tls $TLS_VERSION"; do
  set -- $p
  if [ ! -x "$PULUMI_HOME/plugins/resource-$1-v$2/pulumi-resource-$1" ] \
     || ! cmp -s "$PULUMI_HOME/plugins/resource-$1-v$2/pulumi-resource-$1" "$CACHE/pulumi-resource-$1-$2/pulumi-resource-$1"; then
    "$TOOLS/bin/pulumi" plugin install resource "$1" "$2" --file "$CACHE/pulumi-resource-$1-$2/pulumi-resource-$1" --reinstall >/dev/null
  fi
done
# This plugin's GetSchema answers a minimal schema (see engine/providers/openstack): it
# prints the full one, generated as pulumi-openstack's own is, with --emit-schema.
write_schema "$CACHE/pulumi-resource-openstack-$OPENSTACK_VERSION/pulumi-resource-openstack" --emit-schema
say "ready: $TOOLS/bin/pulumi $(cli_version "$TOOLS/bin/pulumi") (PULUMI_HOME=$TOOLS/home)"
