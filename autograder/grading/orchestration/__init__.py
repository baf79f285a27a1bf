"""Orchestration: the coordinator (the only writer of the course's shared state), the workers (one submission
each, in a throwaway course), the pipeline around nbgrader (preflight, restored cells, results, exports), the
course folder, feedback pages and what is read from students' folders (untrusted.py). May import isolation
and judging."""
