#!/bin/sh
# relval boot test: a stand-in for an HTCondor/CVMFS/EOS/CCTools command. It records how it
# was called (UTC time with ns, name, arguments, whether the pool token existed) and
# answers the way the real command does where relval reads the answer.
name=$(basename "$0")
token=absent
[ -s /etc/condor/tokens.d/relval-node ] && token=present
printf '%s %s token=%s args=%s\n' "$(date -u +%s.%N)" "$name" "$token" "$*" >> /var/log/relval-standins.log
case "$name" in
  condor_version) echo '$CondorVersion: 24.0.1 2024-10-31 BuildID: standin $' ;;
  condor_token_create) echo 'eyJhbGciOiJIUzI1NiJ9.standin-token.signature' ;;
  condor_master) exec sleep infinity ;;
esac
exit 0
