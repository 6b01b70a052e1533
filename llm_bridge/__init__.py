"""llm_bridge: a probinf application (see README)."""
