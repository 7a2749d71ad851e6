"""relval's elastic worker pool: the scaler that runs on the head node (replaces elastiq).

Modules, one concern each:
- `model`: the shared vocabulary (Worker, Slot, Job, WorkerState, Observed, actions);
- `config`: `relval:autoscaler` keys (`AUTOSCALER_KEYS`) and the daemon's config file;
- `core`: the pure `decide(observed, config, now) -> list[Action]`;
- `state`: the state file, `reconcile` (observation -> Observed, timers, adoption by tag);
- `controller`: one observe -> decide -> apply cycle;
- `interfaces`, `fakes`: the narrow Cloud/Condor interfaces and their in-memory fakes;
- `adapters/`: HTCondor (htcondor2), OpenStack (openstacksdk), EC2 (boto3);
- `daemon`, `metrics`: `relval autoscale run` and its Prometheus text output;
- `teardown`: delete every VM of a stack by metadata and wait (for `relval down`);
- `scenario`, `sim`, `elastiq`: `relval autoscale simulate` and the elastiq baseline.
"""
