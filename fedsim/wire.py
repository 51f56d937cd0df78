"""Names of every key that travels between ServerApp and ClientApp (DESIGN.md rule 5)."""

# RecordDict keys
ARRAYS = "arrays"  # the model (or adapter / prototype tensors) - Flower's default ArrayRecord key
CONFIG = "config"  # per-round ConfigRecord - Flower's default ConfigRecord key
METRICS = "metrics"  # the one MetricRecord of a reply
CLIENT_STATE = "fedsim.client-state"  # ConfigRecord of client state travelling with the message
CLIENT_ARRAYS = "fedsim.client-arrays"  # ArrayRecord of client state travelling with the message
TASK_EVAL = "fedsim.task-eval"  # ConfigRecord: per-slot accuracies of a client evaluation
LR_ARRAYS = "fedsim.lr-arrays"  # ArrayRecord an LR controller sends every client (FedHyper-CL)

# ConfigRecord keys (server -> client)
SERVER_ROUND = "server-round"  # int: the round; written by Flower's strategies
CLIENT_ID = "fedsim.client-id"
LR = "lr"  # float: the client's local learning rate this round
LOCAL_EPOCHS = "local-epochs"  # int: local epochs per round (train.epochs)
BATCH_SIZE = "batch-size"  # int: local mini-batch size (train.batch_size)
OPTIMIZER = "optimizer"  # str: local optimiser, "sgd" | "adam" (train.optimizer)
MOMENTUM = "momentum"  # float: SGD momentum of the local optimiser (train.momentum)
WEIGHT_DECAY = "weight-decay"  # float: L2 weight decay of the local optimiser
CLIENT_LEARNER = "client-learner"  # str: the client learner (weights | prototypes | adapters)
PROXIMAL_MU = "proximal-mu"  # written by flwr FedProx
STATE_IN_MESSAGE = "fedsim.state-in-message"
HYPER_CL = "fedsim.hyper-cl"  # bool: run the FedHyper-CL client plugin
HYPER_CL_X_SCALE = "fedsim.hyper-cl-x-scale"  # factor of <u_i, Delta_{t-1}>
HYPER_CL_Y_SCALE = "fedsim.hyper-cl-y-scale"  # factor of <u_i, u_{i-1}>
HYPER_CL_MAX_GROWTH = "fedsim.hyper-cl-max-growth"  # cap on gamma
HYPER_CL_BOUNDS = "fedsim.hyper-cl-bounds"  # [low, high] of beta
HYPER_CL_PERSIST = "fedsim.hyper-cl-persist"  # keep beta in client state across rounds
# data-level curriculum of the local loop (fedsim/client/plugins/data_curriculum.py)
CURRICULUM_ORDER = "curriculum.order"  # none | curriculum | anti | random
CURRICULUM_SCORING = "curriculum.scoring"  # global | local | expert
CURRICULUM_PACING = "curriculum.pacing"  # linear | quad | sqrt | step | exp | log | cyclical
CURRICULUM_A = "curriculum.pacing-a"
CURRICULUM_B = "curriculum.pacing-b"
CURRICULUM_MIN_POOL = "curriculum.min-pool"
CURRICULUM_CYCLE = "curriculum.cycle"  # [start, end, multiplier] of the cyclical schedule
CURRICULUM_EXPERT_EPOCHS = "curriculum.expert-epochs"
CURRICULUM_TASK_ORDER = "curriculum.task-order"  # run-time task order: curriculum | anti | random
REPORT_DIFFICULTY = "fedsim.report-difficulty"  # bool: score the received model (client curriculum)
PLUGINS = "fedsim.plugins"  # str: comma-separated loop plugins registered by entry points
WARM_UP = "fedsim.warm-up"  # query: build the experiment now (before the first deadline)
EXPERIMENT_CONFIG = "fedsim.experiment-config"  # query: resolved config JSON (deployment)
ADAPTER_LAYOUT = "fedsim.adapter-layout"  # JSON of an adapter strategy's layout (adapters)
# FCL baselines (fedsim/client/plugins/baselines.py); a baseline is on when its first key is sent
LWF_LAMBDA = "fcl.lwf-lambda"  # FedLwF: weight of the distillation term
LWF_TEMPERATURE = "fcl.lwf-temperature"  # FedLwF: softmax temperature T
EWC_LAMBDA = "fcl.ewc-lambda"  # FedEWC: weight of the Fisher penalty
EWC_GAMMA = "fcl.ewc-gamma"  # FedEWC: decay of the running Fisher (online EWC)
EWC_SAMPLES = "fcl.ewc-samples"  # FedEWC: examples the Fisher is estimated on (0 = all)
REPLAY_BUDGET = "fcl.replay-budget"  # replay: exemplars a client keeps
REPLAY_SELECTION = "fcl.replay-selection"  # replay: one of REPLAY_SELECTIONS
REPLAY_SELECTIONS = ("reservoir", "herding")
FOT_SAMPLES = "fcl.fot-samples"  # FOT: examples of an ended task a client represents (0 = all)
FOT_HEAD = "fcl.fot-head"  # FOT: bool, the head layer is projected too (single-head streams)
FOT_REPRESENTATION = "fcl.fot-representation"  # reply ArrayRecord: per-layer factors B
FOT_MAX_RANK = "fcl.fot-max-rank"  # FOT: columns of a layer's factor a client sends (0 = all)
FOT_TAIL = "::tail-energy"  # FOT: suffix of a layer's dropped energy sum(s_j^2), j >= max rank
TARGET_KD = "fcl.target-kd"  # TARGET: weight of the KD term on the server's synthetic data
TARGET_TEMPERATURE = "fcl.target-temperature"  # TARGET: KD temperature T
TARGET_CLASSES = "fcl.target-classes"  # TARGET: [int] old classes the KD is over ([] = none yet)
TARGET_SYNTHETIC = "fcl.target-synthetic"  # ArrayRecord {"x": inputs}: the server's synthetic set
TARGET_TEACHER = "fcl.target-teacher"  # ArrayRecord: the old global model (state-dict names)

# Client-state ConfigRecord items (kept by client id, travel with the message in simulation)
ROUNDS_TRAINED = "rounds-trained"  # int: rounds this client has trained
HYPER_CL_BETA = "hyper-cl-beta"  # float: FedHyper-CL's LR factor beta after the last round
CURRICULUM_DECIDED = "curriculum.decided-positions"  # [int]: plan positions, realised task order
PROTO_SENT_SLOTS = "proto-sent-slots"  # [int]: slot positions whose prototypes were sent

# Node-config keys a ClientApp reads (deployment: ``--node-config``)
NODE_CLIENT_ID = "client-id"  # int: the client this node serves
NODE_PARTITION_ID = "partition-id"  # int: Flower's usual name for the same
NODE_NUM_PARTITIONS = "num-partitions"  # int: number of partitions (clients)
NODE_STREAM = "fedsim.stream"  # query reply: JSON class lists, the node's own task order

# MetricRecord keys (client -> server)
NUM_EXAMPLES = "num-examples"  # weighting key of Flower's FedAvg family
TRAIN_LOSS = "train-loss"
EVAL_LOSS = "eval-loss"
EVAL_ACC = "eval-acc"
REPLY_CLIENT_ID = "client-id"
TASK_ID = "task-id"
FINAL_LR = "final-lr"  # the client's learning rate after its last local step
TRAIN_SECONDS = "train-s"  # float: wall time of the client's local training (the ClientApp)
DIFFICULTY = "difficulty"  # mean loss of the received global model on the client's task data
CURRICULUM_POOL = "curriculum-pool"  # mean share of the task's data in the paced pool
PROTO_DISTANCE = "proto-distance"  # float: mean FedProto prototype-distance term of the round
PROTO_CLASSES_SENT = "proto-classes-sent"  # int: classes in the client's prototype contribution
PROTO_SLOTS_SENT = "proto-slots-sent"  # int: task slots in the client's contribution
TRAINABLE_PARAMS = "trainable-params"  # int: parameters the adapter client trained
TOTAL_PARAMS = "total-params"  # int: all parameters of the adapter client's model
PILORA_ORTHO_TERM = "pilora-ortho"  # float: mean orthogonality term (before gamma) of the round
# ... and a MetricRecord key of a strategy's aggregate (server side)
PROTO_BANK_SIZE = "proto-bank-size"  # int: classes with a global prototype
MEMORY_OLD_MODEL = "memory-bytes-old-model"  # FedLwF's teacher kept by the client
MEMORY_FISHER = "memory-bytes-fisher"  # FedEWC's running Fisher and anchor
MEMORY_BUFFER = "memory-bytes-buffer"  # replay: bytes of the exemplars' data (indices are kept)
REPLAY_SIZE = "replay-size"  # exemplars in the memory
REPLAY_CLASSES = "replay-classes"  # distinct classes in the memory
LWF_KD = "lwf-kd-loss"  # mean distillation term L_old over the round's steps
EWC_PENALTY = "ewc-penalty"  # mean EWC penalty over the round's steps
REPLAY_LOSS = "replay-loss"  # mean memory-batch loss over the round's steps
FOT_BYTES_UP = "fot-bytes-up"  # bytes of the FOT representation a reply carries (0: none)
FOT_TASKS = "fot-tasks"  # ended tasks the reply's FOT representation covers (0 or 1)
MEMORY_SYNTHETIC = "memory-bytes-synthetic"  # TARGET: the synthetic set a client holds
TARGET_KD_LOSS = "target-kd-loss"  # TARGET: mean KD term on synthetic batches over the steps
#: per-client reply metrics of the FCL baselines the round loop reports (mean and max)
BASELINE_METRICS = (
    MEMORY_OLD_MODEL, MEMORY_FISHER, MEMORY_BUFFER, REPLAY_SIZE, REPLAY_CLASSES,
    LWF_KD, EWC_PENALTY, REPLAY_LOSS,
    FOT_BYTES_UP, FOT_TASKS, MEMORY_SYNTHETIC, TARGET_KD_LOSS,
)  # fmt: skip

# Task-eval ConfigRecord keys
EVAL_POSITIONS = "positions"
EVAL_ACCURACIES = "accuracies"
EVAL_TASK_IDS = "task-ids"  # global task id of each evaluated entry (same length as accuracies)
EVAL_ORDER = "order"  # task ids of the client's positions whose task is fixed (realised order)

# Packing several virtual clients into one Flower message (simulation)
PACK = "fedsim.pack"  # ConfigRecord: {PACK_SIZE: n, PACK_SHARED_KEYS: [record keys sent once]}
PACK_SIZE = "size"  # int: number of clients in a packed message
PACK_SHARED_KEYS = "shared-keys"  # [str]: record keys sent once for all clients ([""]: none)
PACK_ERROR = "fedsim.error"  # per-client ConfigRecord {PACK_REASON: str} inside a packed reply
PACK_REASON = "reason"  # str: why a packed client's reply is an error


def packed(i: int, key: str) -> str:
    """Key of client ``i``'s record ``key`` inside a packed message."""
    return f"p{i}.{key}"

# Prototype strategies (strategies/prototypes.py): ArrayRecord keys (global bank and replies)
PROTO_CLASSES = "proto.classes"  # [k] int64, labels of a client's contribution
PROTO_MEANS = "proto.means"  # [C, d] global bank / [k, d] client contribution
PROTO_COUNTS = "proto.counts"  # [C] / [k] example counts behind each prototype
# ... and ConfigRecord keys (server -> client) read by fedsim/client/learners/prototypes.py
PROTO_MODEL = "proto.model"  # "global" (weights in the message) | "personal" (client state)
PROTO_TRAIN = "proto.train"  # bool: run the local training loop this round
PROTO_SEND_WEIGHTS = "proto.send-weights"  # bool: put the trained weights in the reply
PROTO_SEND = "proto.send"  # "never" | "once-per-slot" | "every-round"
PROTO_LAMBDA = "proto.lambda"  # float: weight of FedProto's prototype distance term
PROTO_INFERENCE = "proto.inference"  # "prototype" | "head"
PROTO_MODELS = "proto.client-models"  # JSON list of model-config overrides, by client id
# PILoRA (strategies/pilora.py, fedsim/client/learners/pilora.py)
PROTO_FEATURES = "proto.features"  # ArrayRecord [k, d]: a reply's class-mean features (re-weight)
PILORA_ORTHO = "pilora.ortho"  # float: weight gamma of the LoRA orthogonality term
PILORA_TEMPERATURE = "pilora.temperature"  # float: temperature T of the distance logits
# Injected faults (server -> client ConfigRecord items, see fedsim/faults/models.py)
FAULT = "fedsim.fault"  # kind of fault the client must simulate this round
FAULT_DELAY = "fedsim.fault-delay"  # straggler: simulated delay (s), vs the round deadline
FAULT_SCALE = "fedsim.fault-scale"  # adversarial: factor applied to the client's update

# The client protocol a (foreign) ClientApp must speak on the deployment engine
# (docs/deployment.md, "Foreign clients"); bump PROTOCOL_VERSION when a required key changes.
PROTOCOL = "fedsim.protocol"  # int, in the query reply's CONFIG record: the version spoken
PROTOCOL_VERSION = 1
#: required (record kind, record key, item key) of each reply; item key None: the record only
QUERY_REPLY_KEYS = (("config", CONFIG, CLIENT_ID), ("config", CONFIG, PROTOCOL))
# (every train / evaluate reply of a round must also carry the same MetricRecord keys: a
# method's own metrics, e.g. FedProto's, are required of every client the method runs on)
TRAIN_REPLY_KEYS = (
    ("array", ARRAYS, None),
    *(("metric", METRICS, k) for k in (NUM_EXAMPLES, TRAIN_LOSS, REPLY_CLIENT_ID, TASK_ID)),
    *(("metric", METRICS, k) for k in (FINAL_LR, TRAIN_SECONDS)),
)
EVALUATE_REPLY_KEYS = (
    *(("metric", METRICS, k) for k in (EVAL_ACC, EVAL_LOSS, NUM_EXAMPLES, REPLY_CLIENT_ID)),
    ("config", TASK_EVAL, EVAL_POSITIONS),
    ("config", TASK_EVAL, EVAL_ACCURACIES),
)
# Privacy (server -> client ConfigRecord items from configs/privacy, see docs/privacy.md)
PRIVACY_DELTA = "privacy.delta"  # float: δ of every reported ε
DP_SGD_SIGMA = "privacy.dp-sgd-sigma"  # float: DP-SGD noise multiplier z (its presence: DP-SGD on)
DP_SGD_CLIP = "privacy.dp-sgd-clip"  # float: DP-SGD per-example clip norm C
LOCAL_DP_CLIP = "privacy.local-clip"  # float: local DP clip norm of the update (its presence: on)
LOCAL_DP_SENSITIVITY = "privacy.local-sensitivity"  # float: Δ of the local Gaussian mechanism
LOCAL_DP_EPSILON = "privacy.local-epsilon"  # float: ε of one local release
PROTO_NOISE_SIGMA = "privacy.proto-sigma"  # float: prototype noise multiplier (presence: on)
PROTO_NOISE_CLIP = "privacy.proto-clip"  # float: feature-norm clip C of prototype sums
#: str: the reply metric SecAgg+ weights the update by (its presence: secure aggregation on)
SECAGG_WEIGHT_KEY = "privacy.secagg-weight-key"
# ... and reply metrics (client -> server)
PRIVACY_EPSILON = "privacy-epsilon"  # float: this client's ε so far (at PRIVACY_DELTA)
PRIVACY_CLIPPED = "privacy-clipped-fraction"  # float: share of clipped examples / updates
SECAGG_CLIPPED = "secagg-clipped-fraction"  # float: share of update entries SecAgg+ clips
