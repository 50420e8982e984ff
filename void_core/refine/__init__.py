"""Refinement engines: they stabilise a stream of fills over time (built through
`void_core.engines`; `void-pass2` runs inside the void engine)."""
