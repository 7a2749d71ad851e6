#!/bin/sh
# relval: makeflow for the head from CCTools' binary release (relval:makeflow), checked
# against its sha256 before anything is unpacked.
set -eu
URL='{{url}}'
SHA256={{sha256}}
HOME_DIR={{home}}
if [ -x "$HOME_DIR/bin/makeflow" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 5 --max-time 600 -o "$tmp/cctools.tar.gz" "$URL"
echo "$SHA256  $tmp/cctools.tar.gz" | sha256sum -c --quiet - || {
  echo "relval: $URL does not match relval:makeflow.sha256: not installed" >&2
  exit 1
}
install -d -m 0755 "$HOME_DIR"
tar -xzf "$tmp/cctools.tar.gz" -C "$HOME_DIR" --strip-components=1 --no-same-owner
ln -sf "$HOME_DIR/bin/makeflow" /usr/local/bin/makeflow
