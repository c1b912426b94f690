"""Training methods: what one step computes, for each method of the comparison table.

A method owns its networks (students, teachers) and losses; it holds no optimizer, loader,
logger or step counter: the loop in `avsl.engine` drives it (ARCHITECTURE.md).
"""
