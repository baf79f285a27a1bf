"""Isolation: where a student's code runs. A bubblewrap sandbox per submission with its limits (sandbox.py),
kernels forked from a fork server (forkserver.py, whose process runs forkserver_main.py), started ahead of
need, and nbgrader's executor bounding what a kernel prints (kernels.py). Imports nothing of orchestration,
and of judging only wire.py's ANSWER_MIME."""
