#!/bin/sh
# relval: finish the HTCondor setup at first boot, as root.
# 0. refuse unless HTCondor >= 9 with condor_token_create is installed;
# 1. record this VM's id in the startd ClassAd (RelvalInstanceId);
# 2. mint this node's IDTOKEN from the pool signing key;
# 3. start condor (its unit applies the metadata guard first, see ExecStartPre).
set -eu
umask 077
ROLE={{role}}
TRUST_DOMAIN={{trust_domain}}
EXECUTE={{execute}}

{{node_check}} condor

install -d -m 0700 -o root -g root /etc/condor/passwords.d /etc/condor/tokens.d
chmod 0600 /etc/condor/passwords.d/POOL

if [ "$ROLE" = worker ]; then
  id=$(cloud-init query v1.instance_id 2>/dev/null || true)
  case "$id" in
    ????????-????-????-????-????????????|i-*) ;;
    *) id=$(curl -fsS --max-time 20 http://169.254.169.254/openstack/latest/meta_data.json \
            | python3 -c 'import json, sys; print(json.load(sys.stdin)["uuid"])') ;;
  esac
  case "$id" in
    *[!0-9a-zA-Z-]*|'') echo "relval: cannot determine the instance id" >&2; exit 1 ;;
  esac
  umask 022
  printf 'RelvalInstanceId = "%s"\n' "$id" > /etc/condor/config.d/30-relval-instance.conf
  umask 077
fi

if [ ! -s /etc/condor/tokens.d/relval-node ]; then
  condor_token_create -identity "condor@$TRUST_DOMAIN" -key POOL > /etc/condor/tokens.d/relval-node.new
  mv /etc/condor/tokens.d/relval-node.new /etc/condor/tokens.d/relval-node
fi

if [ -n "$EXECUTE" ]; then
  # On the worker volume, mounted by relval-volumes before this runs.
  install -d -m 0755 -o condor -g condor "$EXECUTE"
fi

systemctl enable condor
systemctl restart condor
