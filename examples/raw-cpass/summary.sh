#!/bin/bash
# One summary for the campaign: the per-run trending merged, and the list of runs.
# usage: summary.sh CAMPAIGN RELEASE OUTPUT.tgz INPUTS...
campaign=$1 release=$2 out=$3; shift 3
trending=$(printf '%s\n' "$@" | grep 'trending.root$')
hadd -f trending_all.root $trending || exit 1
printf 'campaign %s\nrelease %s\n' "$campaign" "$release" > summary.txt
printf '%s\n' $trending >> summary.txt
tar czf "$out" trending_all.root summary.txt
