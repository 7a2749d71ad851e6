#!/bin/sh
# relval boot test: a small bootable Debian image from Debian's own packages (debootstrap),
# with systemd, cloud-init, openssh-server, nftables and iptables, and stand-ins for
# HTCondor, CVMFS and makeflow that record their calls. Writes into OUT:
#   vmlinuz, initrd.img, root.raw (ext4, the whole disk is the root filesystem).
# Usage: build-image.sh OUT MIRROR WHEELHOUSE
set -eu
OUT=$1
MIRROR=$2
WHEELS=$3
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$OUT/rootfs
rm -rf "$ROOT"
mkdir -p "$ROOT"
debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$OUT/debootstrap.log" 2>&1
# The rest through apt inside the image (it resolves virtual packages; debootstrap does not).
cleanup() { for m in dev/pts dev proc sys; do umount "$ROOT/$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mount -t proc proc "$ROOT/proc"
mount -t sysfs sys "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' > "$ROOT/usr/sbin/policy-rc.d"   # start no service in the chroot
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
  linux-image-cloud-amd64 initramfs-tools systemd-sysv udev kmod cloud-init openssh-server \
  nftables iptables sudo ifupdown isc-dhcp-client e2fsprogs python3 python3-venv procps \
  iproute2 util-linux ca-certificates locales >>"$OUT/debootstrap.log" 2>&1
rm -f "$ROOT/usr/sbin/policy-rc.d"
# cloud-init's locale module sets en_US.UTF-8, as on Debian's own cloud images.
sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' "$ROOT/etc/locale.gen"
chroot "$ROOT" locale-gen >>"$OUT/debootstrap.log" 2>&1
cleanup
trap - EXIT
# Stand-ins for what package repositories would install (no network in the VM).
for tool in condor_version condor_token_create cvmfs_config makeflow eosxd; do
  install -m 0755 "$HERE/standin.sh" "$ROOT/usr/bin/$tool"
done
install -m 0755 "$HERE/standin.sh" "$ROOT/usr/sbin/condor_master"
install -m 0644 "$HERE/condor.service" "$ROOT/etc/systemd/system/condor.service"
chroot "$ROOT" groupadd --system condor
chroot "$ROOT" useradd --system -g condor -d /var/lib/condor -s /usr/sbin/nologin condor
mkdir -p "$ROOT/etc/condor/config.d" "$ROOT/var/lib/condor"
# The autoscaler's pinned requirements from a local wheelhouse (pip's own index format).
mkdir -p "$ROOT/opt/wheels"
cp "$WHEELS"/*.whl "$ROOT/opt/wheels/"
printf '[global]\nno-index = true\nfind-links = /opt/wheels\n' > "$ROOT/etc/pip.conf"
# Only the NoCloud seed; no network datasource probing.
# The guest has no DNS: its own name goes into /etc/hosts (else every sudo waits on DNS).
printf 'datasource_list: [NoCloud, None]\nmanage_etc_hosts: localhost\n' > "$ROOT/etc/cloud/cloud.cfg.d/90-relval-boot-test.cfg"
printf '/dev/vda / ext4 defaults 0 1\n' > "$ROOT/etc/fstab"
printf 'relval-boot-test\n' > "$ROOT/etc/hostname"
: > "$ROOT/etc/machine-id"
rm -f "$ROOT"/etc/ssh/ssh_host_*
chroot "$ROOT" apt-get clean
cp -L "$ROOT/vmlinuz" "$OUT/vmlinuz"
cp -L "$ROOT/initrd.img" "$OUT/initrd.img"
rm -f "$OUT/root.raw"
mkfs.ext4 -q -L root -d "$ROOT" "$OUT/root.raw" 3G
rm -rf "$ROOT"
