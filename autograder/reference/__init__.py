"""Trusted NumPy implementations, one module per assignment.

These are the reference solution (the source notebooks' solution cells are their student-facing
version, and tests prove the two agree) and the oracles the checks compare against.
"""
