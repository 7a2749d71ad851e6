#!/bin/bash
# CPass1 on one raw chunk with the run's fresh OCDB, running the QA train on the ESDs.
# usage: runCPass1.sh CHUNK_URL RUN EVENTS OCDB.tgz ESDS_OUT QA_OUT
chunk=$1 run=$2 events=$3 ocdb=$4 esds=$5 qa=$6
macros=$ALICE_PHYSICS/PWGPP/CalibMacros/CPass1
tar xzf "$ocdb" || exit 1
aliroot -b -q -l "$macros/recCPass1.C(\"$chunk\", $events, \"local://$PWD/OCDB\", \"\")" || exit 1
aliroot -b -q -l "$ALICE_PHYSICS/PWGPP/QA/scripts/runQAtrain.C($run, \"AliESDs.root\")" || exit 1
mv AliESDs.root "$esds" && mv QAresults.root "$qa"
