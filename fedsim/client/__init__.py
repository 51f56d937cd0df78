"""The client side: the ClientApp, the one training loop, client learners and loop plugins."""
