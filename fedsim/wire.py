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
# data-level curriculum of the local loop (fedsim/plugins/data_curriculum.py)
CURRICULUM_ORDER = "curriculum.order"  # none | curriculum | anti | random
CURRICULUM_SCORING = "curriculum.scoring"  # global | local | expert
CURRICULUM_PACING = "curriculum.pacing"  # linear | quad | sqrt | step | exp | log | cyclical
CURRICULUM_A = "curriculum.pacing-a"
CURRICULUM_B = "curriculum.pacing-b"
CURRICULUM_MIN_POOL = "curriculum.min-pool"
CURRICULUM_CYCLE = "curriculum.cycle"  # [start, end, multiplier] of the cyclical schedule
CURRICULUM_EXPERT_EPOCHS = "curriculum.expert-epochs"
CURRICULUM_TASK_ORDER = "curriculum.task-order"  # run-time task order: curriculum | anti | random

# MetricRecord keys (client -> server)
NUM_EXAMPLES = "num-examples"  # weighting key of Flower's FedAvg family
TRAIN_LOSS = "train-loss"
EVAL_LOSS = "eval-loss"
EVAL_ACC = "eval-acc"
REPLY_CLIENT_ID = "client-id"
TASK_ID = "task-id"
DIFFICULTY = "difficulty"  # mean loss of the received global model on the client's task data
CURRICULUM_POOL = "curriculum-pool"  # mean share of the task's data in the paced pool

# Task-eval ConfigRecord keys
EVAL_POSITIONS = "positions"
EVAL_ACCURACIES = "accuracies"
EVAL_BOUNDARY = "boundary"
