"""Reproductions of probinf's own validity claims (registered in :mod:`probinf.reproduce`)."""
