#!/bin/bash
# CPass0 on one raw chunk: reconstruction for calibration, then the calibration train.
# usage: runCPass0.sh CHUNK_URL RUN EVENTS OUTPUT.tgz
set -o pipefail
chunk=$1 run=$2 events=$3 out=$4
macros=$ALICE_PHYSICS/PWGPP/CalibMacros/CPass0
aliroot -b -q -l "$macros/recCPass0.C(\"$chunk\", $events, \"raw://\", \"\")" || exit 1
aliroot -b -q -l "$macros/runCalibTrain.C($run, \"AliESDs.root\", \"raw://\")" || exit 1
tar czf "$out" AliESDfriends_v1.root CalibObjects.root
