"""Everything that talks to the ledger: client, contract bindings, deployment, typed errors."""
