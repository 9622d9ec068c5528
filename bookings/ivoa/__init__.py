"""The IVOA ExecutionBroker interface (DESIGN §7), under /ivoa/."""
