"""Grading a class: ``nnfs grade`` from the submitted notebooks to the gradebook, in three rooms.

How it fits together (``nnfs grade a1_helpers``):

1. orchestration/coordinator.py reads each ``submitted/<id>/<a>/<a>.ipynb`` as hostile data (untrusted.py),
   skips what is graded and unchanged, and queues the rest, longest first, on a Runner (a local process pool
   or a Dask cluster). It is the only writer of gradebook.db, autograded/, feedback/ and grading_status.json.
2. orchestration/worker.py grades one submission in a throwaway course: nbgrader's autograde, with
3. isolation/ running the student's code: one bubblewrap sandbox per submission (sandbox.py), its kernel
   forked from a fork server that imported numpy and the assignment's preloads once (forkserver.py,
   forkserver_main.py), started ahead of need and bounded in what it prints (kernels.py). No grading package
   is in that kernel:
4. judging/ puts a package-free stand-in into it (standin.py), which calls the student's functions on the
   check inputs and sends back plain data (wire.py); judge.py judges that here with the real checks and writes
   the verdict (score, message, mistake id) as the test cell's output.
5. Back in orchestration: the autograded notebook is sanitized (autograder/preprocessors/), the feedback page
   made in a bounded child (feedback.py), and the coordinator merges the WorkerResult (pipeline.py's
   StudentResult, the gradebook rows, the pages) and exports grades.csv.

What an assignment needs (its checks, test cells, data, preloads) comes from its spec (autograder/assignments/).
Imports go one way: orchestration may import isolation and judging; isolation imports only judging.wire (the
answer's MIME type, which its output bounds keep); judging imports neither. Checks never import grading.
"""
