"""Task-stream generators: pure, seeded functions that return per-client task plans of indices."""

from scenarios.types import ClientStream, ScenarioPlan, Task, TaskSlot

__all__ = ["ClientStream", "ScenarioPlan", "Task", "TaskSlot"]
