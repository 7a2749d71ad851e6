#!/bin/bash
# Merge the CPass0 calibration objects of one run and produce its OCDB snapshot.
# usage: mergeCPass0.sh RUN OUTPUT.tgz CPASS0.tgz...
run=$1 out=$2; shift 2
for f in "$@"; do d=${f%.tgz}; mkdir -p "$d" && tar xzf "$f" -C "$d" || exit 1; done
ls */CalibObjects.root > calib.list
aliroot -b -q -l "$ALICE_PHYSICS/PWGPP/CalibMacros/CPass0/mergeMakeOCDB.byComponent.C(\"calib.list\", $run, \"local://$PWD/OCDB\")" || exit 1
tar czf "$out" OCDB
