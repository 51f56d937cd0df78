"""The scenario's own task order: the default, no-op curriculum."""

from __future__ import annotations

from scenarios.types import ScenarioPlan


class ScenarioOrder:
    """Keep every client's task order as the scenario generated it.

    A task-level curriculum is an object with ``apply(plan, *, seed, data) -> ScenarioPlan``
    that reorders each client's slots before the run (static difficulty), and optionally
    ``client_plugins`` / server hooks for run-time scoring (see the curricula issue).
    """

    def apply(self, plan: ScenarioPlan, *, seed: int, data=None) -> ScenarioPlan:
        """Return the plan unchanged."""
        return plan

    def client_config(self) -> dict:
        """No run-time curriculum: nothing for the clients."""
        return {}
