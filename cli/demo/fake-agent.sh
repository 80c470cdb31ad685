#!/bin/sh
# A stand-in for a headless agent CLI: it prints its (secret-laden) log, then hangs
# waiting for a model that never answers, with a grandchild holding its output
# pipe open. `keel run` masks the secrets as they stream and kills the whole
# process group after the inactivity window.
cat "$(dirname "$0")/agent-run.log"
echo "agent: waiting for the model..."
sleep 600 &
sleep 600
wait
