"""crowd: a probinf application (see README)."""
