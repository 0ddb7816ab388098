"""Constructs of the EMREX stack; one module per concern, mirroring functions/."""
