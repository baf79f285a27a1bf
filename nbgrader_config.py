"""nbgrader configuration for nnfs-course. The repository root is the course root."""

c = get_config()  # noqa: F821 (provided by nbgrader/traitlets when this file is loaded)

c.CourseDirectory.course_id = "nnfs-course"

# A student who deletes a test cell (or strips its metadata) gets it back and graded from the
# gradebook, instead of an ungraded cell that quietly scores 0 in the CSV.
c.OverwriteCells.add_missing_cells = True

# Per-cell time limit while autograding (seconds); the grading pipeline checks that it takes effect.
c.Execute.timeout = 120

# What students see in place of the solutions in release/ (nbgrader's defaults, stated here).
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# What runs on a submission after its cells are executed, in order: nbgrader's own steps (stated here so the
# course's can be placed among them). `nnfs grade` runs this same list, with its sandboxed executor in
# place of Execute.
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    # Warnings (and prints) on stderr in a test cell become "[stderr] ..." text instead of scoring the cell 0;
    # errors and tracebacks stay as they are (see autograder/preprocessors/stderr.py).
    "autograder.preprocessors.StderrAsText",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    # Whatever a browser will render of a submission is hostile data: outputs, the student's markdown, attachments
    # and metadata are made inert and bounded before the autograded notebook is stored, since formgrader renders
    # it and the feedback is made from it (see autograder/preprocessors/sanitize.py).
    "autograder.preprocessors.sanitize.SanitizeSubmission",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "autograder.preprocessors.metadata.CheckCellMetadata",
]

# What runs on a submission before its cells are executed: nbgrader's own steps, with the same metadata check
# as above (nbgrader's CheckCellMetadata, its schema validator compiled once instead of once per cell:
# autograder/preprocessors/metadata.py).
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "autograder.preprocessors.metadata.CheckCellMetadata",
]

# The same cleaning where nbconvert renders HTML, for autograded notebooks stored before it existed: feedback
# (nbgrader's two steps, stated here, after it) and formgrader's submission view, whose exporter reads
# HTMLExporter's settings. It runs once per page however many of these lists name it.
c.GenerateFeedback.preprocessors = [
    "autograder.preprocessors.sanitize.SanitizeSubmission",
    "nbgrader.preprocessors.GetGrades",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.HTMLExporter.preprocessors = ["autograder.preprocessors.sanitize.SanitizeSubmission"]

# Late submissions (autograder/term/deadlines.py): nbgrader's AssignLatePenalties with the course's plugin, which
# has nbgrader's methods ('none', 'zero') and two more: 'subtract' (subtract_points once) and 'per_day'
# (percent_per_day percent of the score per started day late, at most max_percent), with a hard cut-off after
# cutoff_days (0: none). `nnfs export` and `nnfs grade` apply it to the verified scores, from the raw score each
# time (never twice); due dates: `nnfs due`, extensions: `nnfs extend`.
c.AssignLatePenalties.plugin_class = "autograder.term.deadlines.LatePenalty"
c.LatePenalty.penalty_method = "per_day"
c.LatePenalty.percent_per_day = 10
c.LatePenalty.max_percent = 50
c.LatePenalty.cutoff_days = 7

# formgrader (only when it is loading): its pages escape what they show, and it lists only submission
# folders named by a valid student id (autograder/formgrader_guard.py says why).
try:
    from autograder.formgrader_guard import install as _guard_formgrader

    _guard_formgrader()
except ImportError:  # a machine without the course package (a student's): nothing to guard
    pass
