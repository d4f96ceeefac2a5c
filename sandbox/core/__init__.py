"""The core: configuration, the database (engine, sessions, schema version) and its models, the
clock, error types, the behaviour profile, secrets, and the running Sandbox's state. No HTTP."""
