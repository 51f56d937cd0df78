"""Server-side methods: what is aggregated and how, LR controllers and client selection."""
