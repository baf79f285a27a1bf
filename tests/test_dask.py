"""The same grading tasks on a Dask cluster (a LocalCluster standing in for a real one)."""

import pytest

from autograder.examples import write_submissions
from autograder.grading.orchestration import coordinator
from notebooks import copy_course

distributed = pytest.importorskip("distributed", reason="the Dask extra is not installed (pip install -e .[dask])")

A1 = "a1_helpers"


def test_grading_on_a_local_dask_cluster_matches_the_local_pool(tmp_path):
    course = copy_course(tmp_path)
    write_submissions(tmp_path, A1)
    students = ["example-ada", "example-bob", "example-dan"]
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        results = coordinator.grade(
            course, A1, students, scheduler=cluster.scheduler_address, progress=False, log=lambda *_: None
        )
    by_student = {r.student: r for r in results}
    assert by_student["example-ada"].score == 10.0 and by_student["example-ada"].verified
    assert by_student["example-bob"].score == 3.0
    assert by_student["example-dan"].status == "error" and "not valid JSON" in by_student["example-dan"].reason
    assert course.feedback_html("example-ada", A1).is_file()  # the coordinator wrote what the workers returned
