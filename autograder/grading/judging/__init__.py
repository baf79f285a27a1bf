"""Judging outside the kernel: the package-free stand-in sent into the kernel (standin.py), the plain data it
sends back (wire.py) and the verdicts judged here with the real checks (judge.py). Imports neither
orchestration nor isolation."""
