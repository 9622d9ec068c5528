"""Planning inputs: which allocations count as load (the one rule), the per-process copy of
that load, the pools' generation, and the guard that re-checks offers under the pool locks."""
