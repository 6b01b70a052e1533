"""privacy: a probinf application (see README)."""
