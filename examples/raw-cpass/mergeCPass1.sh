#!/bin/bash
# Merge the QA output of one run's chunks and extract its trending variables.
# usage: mergeCPass1.sh RUN YEAR QA_OUT TRENDING_OUT INPUTS... (ESDs and QA files)
run=$1 year=$2 qa=$3 trending=$4; shift 4
qafiles=$(printf '%s\n' "$@" | grep 'QAresults.root$')
hadd -f -k "$qa" $qafiles || exit 1
aliroot -b -q -l "$ALICE_PHYSICS/PWGPP/QA/scripts/makeTrendingTree.C(\"$qa\", $run, $year, \"$trending\")" || exit 1
