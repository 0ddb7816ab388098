"""Dependency layer for the Lambdas: pinned requirements and the no-Docker build (see build.py)."""
