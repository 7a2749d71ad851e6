#!/bin/sh
# relval: mount EOS with eosxd (the FUSE client) at {{mount_point}}.
set -eu
install -d -m 0755 /etc/eos {{mount_point}}
cat > /etc/eos/fuse.relval.conf <<CONF
{"name": "relval", "hostport": "{{instance}}", "remotemountdir": "{{remote_path}}",
 "localmountdir": "{{mount_point}}"}
CONF
grep -q ' {{mount_point}} fuse ' /etc/fstab || \
  echo 'eosxd {{mount_point}} fuse fsname=relval,nofail,_netdev 0 0' >> /etc/fstab
mountpoint -q {{mount_point}} || mount {{mount_point}}
