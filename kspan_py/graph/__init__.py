"""The causality graph: the object store, the controller rules, the pure linker and its owner."""
