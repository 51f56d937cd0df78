"""Names of every key that travels between ServerApp and ClientApp (DESIGN.md rule 5)."""

# RecordDict keys
ARRAYS = "arrays"  # the model (or adapter / prototype tensors) - Flower's default ArrayRecord key
CONFIG = "config"  # per-round ConfigRecord - Flower's default ConfigRecord key
METRICS = "metrics"  # the one MetricRecord of a reply
CLIENT_STATE = "fedsim.client-state"  # ConfigRecord of client state travelling with the message
CLIENT_ARRAYS = "fedsim.client-arrays"  # ArrayRecord of client state travelling with the message
TASK_EVAL = "fedsim.task-eval"  # ConfigRecord: per-slot accuracies of a client evaluation

# ConfigRecord keys (server -> client)
SERVER_ROUND = "server-round"  # written by Flower's strategies
CLIENT_ID = "fedsim.client-id"
LR = "lr"
PROXIMAL_MU = "proximal-mu"  # written by flwr FedProx
STATE_IN_MESSAGE = "fedsim.state-in-message"
ADAPTER_LAYOUT = "fedsim.adapter-layout"  # JSON of an adapter strategy's layout (adapters)

# MetricRecord keys (client -> server)
NUM_EXAMPLES = "num-examples"  # weighting key of Flower's FedAvg family
TRAIN_LOSS = "train-loss"
EVAL_LOSS = "eval-loss"
EVAL_ACC = "eval-acc"
REPLY_CLIENT_ID = "client-id"
TASK_ID = "task-id"

# Task-eval ConfigRecord keys
EVAL_POSITIONS = "positions"
EVAL_ACCURACIES = "accuracies"
EVAL_BOUNDARY = "boundary"
