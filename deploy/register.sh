#!/bin/sh
# Register the node keys over the SuperLink container's loopback Control API (operator side).
set -e
mkdir -p "$FLWR_HOME"
cat > "$FLWR_HOME/config.toml" <<TOML
[superlink]
default = "local"

[superlink.local]
address = "127.0.0.1:9093"
root-certificates = "/certs/ca.crt"
TOML
for key in /certs/node-*.pub; do flwr supernode register "$key" local; done
flwr supernode list local
