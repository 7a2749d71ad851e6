#!/bin/sh
# relval: wait for each Cinder volume, format it only if it holds no filesystem, mount it.
# Arguments: VOLUME_ID=MOUNT_POINT ... ; OWNER (optional) gets the mount points.
# Nova attaches volumes after the VM boots, and exposes them by the first 20 characters
# of the volume id in /dev/disk/by-id (virtio serial), so we look them up by that.
set -eu
OWNER={{owner}}
# A spec tag:TAG=MOUNT_POINT names a volume Nova created with the server (a worker the
# elastic scaler booted): its id is read from Nova's device metadata, where the tag is.
volume_of_tag() {
  python3 - "$1" <<'PY'
import json, sys, urllib.request
url = "http://169.254.169.254/openstack/latest/meta_data.json"
devices = json.load(urllib.request.urlopen(url, timeout=10)).get("devices", [])
print(next(d["serial"] for d in devices if d.get("type") == "disk" and sys.argv[1] in d.get("tags", [])))
PY
}
for spec in "$@"; do
  id=${spec%%=*}
  mnt=${spec#*=}
  case "$id" in
    tag:*)
      tag=${id#tag:}
      id=
      tries=0
      until id=$(volume_of_tag "$tag" 2>/dev/null); do
        tries=$((tries + 1))
        if [ "$tries" -ge 60 ]; then
          echo "relval: no volume tagged $tag in the device metadata within 5 minutes" >&2
          exit 1
        fi
        sleep 5
      done ;;
  esac
  serial=$(printf '%s' "$id" | cut -c1-20)
  dev=
  tries=0
  while [ -z "$dev" ] && [ "$tries" -lt 180 ]; do
    dev=$(ls /dev/disk/by-id/ 2>/dev/null | grep -F -- "$serial" | grep -v -- '-part' | head -n 1 || true)
    [ -n "$dev" ] && dev=/dev/disk/by-id/$dev && break
    tries=$((tries + 1))
    sleep 5
  done
  if [ -z "$dev" ]; then
    echo "relval: volume $id did not appear within 15 minutes" >&2
    exit 1
  fi
  if ! blkid "$dev" >/dev/null 2>&1; then
    mkfs.ext4 -q -m 0 "$dev"
  fi
  uuid=$(blkid -s UUID -o value "$dev")
  mkdir -p "$mnt"
  grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid $mnt auto defaults,nofail 0 2" >> /etc/fstab
  mountpoint -q "$mnt" || mount "$mnt"
  if [ -n "$OWNER" ]; then chown "$OWNER:" "$mnt"; fi
done
