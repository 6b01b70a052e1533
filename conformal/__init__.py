"""conformal: a probinf application (see README)."""
