"""Client-side plugins of the one local training loop."""
