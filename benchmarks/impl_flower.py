"""(b) A minimal plain Flower app - what a user would write instead of fedsim.

One Flower node per registered client (partition-id = client id), Flower's FedAvg samples
``sampled`` of them per round, central evaluation every round, no client-side evaluation.
"""

from __future__ import annotations

import time

import numpy as np
import torch


def run(registered: int, sampled: int, rounds: int, model_name: str, seed: int = 0) -> dict:
    """Run the workload with run_simulation; return per-round times and the final accuracy."""
    import warnings

    from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid, ServerApp
    from flwr.serverapp.strategy import FedAvg

    from benchmarks.common import accuracy, data, make_model, train_epoch
    from benchmarks.workload import SAMPLES_PER_CLIENT, client_indices

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from flwr.simulation import run_simulation

    client = ClientApp()

    @client.train()
    def train(msg: Message, context: Context) -> Message:
        torch.set_num_threads(1)
        d = data()
        cid = int(context.node_config["partition-id"])
        rnd = int(msg.content["config"]["server-round"])
        model = make_model(model_name)
        model.load_state_dict(msg.content["arrays"].to_torch_state_dict())
        idx = client_indices(seed, cid, len(d.y_train), SAMPLES_PER_CLIENT)
        rng = np.random.default_rng([seed, rnd, cid])
        loss = train_epoch(model, d.x_train[idx], d.y_train[idx], rng)
        return Message(
            RecordDict({"arrays": ArrayRecord(model.state_dict()),
                        "metrics": MetricRecord({"train_loss": loss, "num-examples": len(idx)})}),
            reply_to=msg,
        )

    out: dict = {"marks": []}
    server = ServerApp()

    @server.main()
    def main(grid: Grid, context: Context) -> None:
        strategy = FedAvg(fraction_train=sampled / registered, fraction_evaluate=0.0,
                          min_train_nodes=1, min_evaluate_nodes=1, min_available_nodes=registered)

        def central(rnd: int, arrays: ArrayRecord) -> MetricRecord:
            model = make_model(model_name)
            model.load_state_dict(arrays.to_torch_state_dict())
            acc = accuracy(model)
            out["marks"].append(time.perf_counter())
            out["final_acc"] = acc
            return MetricRecord({"acc": acc})

        strategy.start(grid=grid, initial_arrays=ArrayRecord(make_model(model_name).state_dict()),
                       num_rounds=rounds, train_config=ConfigRecord({}), evaluate_fn=central)

    run_simulation(server_app=server, client_app=client, num_supernodes=registered,
                   backend_config={"client_resources": {"num_cpus": 1, "num_gpus": 0.0},
                                   "init_args": {"num_cpus": 2, "include_dashboard": False}})
    marks = out["marks"]  # round 0 (initial eval) then one mark per round
    return {"round_times": [b - a for a, b in zip(marks, marks[1:], strict=False)],
            "final_acc": out.get("final_acc")}
