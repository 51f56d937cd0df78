"""Model definitions; each is built from config with the data's input shape and label count."""
