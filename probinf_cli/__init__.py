"""The shell above the applications: the ``probinf`` command line and the paper reproductions."""
