"""EMREX client (EMC): receive verified study results from EMREX data providers (EMPs)."""

__version__ = "0.1.0"
