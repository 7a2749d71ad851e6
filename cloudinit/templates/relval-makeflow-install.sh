#!/bin/sh
# relval: makeflow for the head from a CCTools release (relval:makeflow), checked against
# its sha256 before anything is unpacked. BUILD=1: a source release, built here
# (./configure && make && make install; parrot, prune, umbrella and weaver left out, and
# no readline, FUSE or Perl bindings, which makeflow does not need); BUILD=0: a binary
# release, unpacked.
set -eu
URL='{{url}}'
SHA256={{sha256}}
BUILD={{build}}
HOME_DIR={{home}}
if [ -x "$HOME_DIR/bin/makeflow" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL --retry 5 --max-time 600 -o "$tmp/cctools.tar.gz" "$URL"
echo "$SHA256  $tmp/cctools.tar.gz" | sha256sum -c --quiet - || {
  echo "relval: $URL does not match relval:makeflow.sha256: not installed" >&2
  exit 1
}
if [ "$BUILD" = 1 ]; then
  for tool in cc make m4; do
    command -v "$tool" >/dev/null 2>&1 || {
      echo "relval: building CCTools needs $tool, which this image lacks: makeflow not installed" >&2
      exit 1
    }
  done
  mkdir "$tmp/src"
  tar -xzf "$tmp/cctools.tar.gz" -C "$tmp/src" --strip-components=1 --no-same-owner
  (
    cd "$tmp/src"
    ./configure --prefix "$HOME_DIR" --with-base-dir "$HOME_DIR" \
      --without-system-parrot --without-system-prune --without-system-umbrella \
      --without-system-weaver --with-readline-path no --with-fuse-path no --with-perl-path no
    make -j"$(nproc)"
    make install
  ) > /var/log/relval-makeflow-build.log 2>&1 || {
    echo "relval: building CCTools from $URL failed (see /var/log/relval-makeflow-build.log)" >&2
    tail -n 20 /var/log/relval-makeflow-build.log >&2
    exit 1
  }
else
  install -d -m 0755 "$HOME_DIR"
  tar -xzf "$tmp/cctools.tar.gz" -C "$HOME_DIR" --strip-components=1 --no-same-owner
fi
ln -sf "$HOME_DIR/bin/makeflow" /usr/local/bin/makeflow
