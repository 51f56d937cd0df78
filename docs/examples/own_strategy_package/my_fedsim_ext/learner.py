"""A client learner registered from outside fedsim: the weights learner, counting its calls."""

from __future__ import annotations

from fedsim.client.learners.weights import WeightsLearner

#: (client id, round) of every train call in this process (a test reads it)
TRAINED: list[tuple[int, int]] = []


class CountingLearner(WeightsLearner):
    """Trains like :class:`~fedsim.client.learners.weights.WeightsLearner`; records each call."""

    def train(self, exp, client_id, server_round, arrays, config, state):
        """Record the call, then train as the weights learner."""
        TRAINED.append((int(client_id), int(server_round)))
        return super().train(exp, client_id, server_round, arrays, config, state)
