"""Asset definitions, one module per area."""
