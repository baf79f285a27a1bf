"""Whatever a browser will render of a submission is hostile data (autograder/preprocessors/sanitize.py).

The catalogue (tests/hostile.py) holds what a student can put where nbconvert, formgrader and JupyterLab render
it: HTML outputs with scripts, handlers, frames, forms, overlays; SVG; JavaScript and widget outputs; markdown
with raw HTML, javascript: links and mermaid; TeX that makes MathJax act; attachments; notebook metadata. Each is
sanitized, then rendered with the templates formgrader and the feedback use, and the page is read for the marker
in any place a browser acts on. Honest content (matplotlib figures, pandas tables, markdown with quotes, code and
math) comes through unchanged. Then the bounds, nbgrader's scores before and after, the course's configuration,
and plain ``nbgrader autograde`` + ``generate_feedback`` on a copy of the course. tests/test_browser.py runs the
same catalogue through ``nnfs grade`` and opens the pages in Chromium.
"""

import copy
import io
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.utils import determine_grade

from autograder.examples import build_submission, example_students
from autograder.preprocessors import sanitize
from autograder.preprocessors.sanitize import (
    ALLOWED_MIMES,
    MAX_TEXT_CHARS,
    NOTE,
    SanitizeSubmission,
    rendered_markdown_is_safe,
    sanitize_markdown,
    sanitize_notebook,
)
from hostile import HONEST_MARKDOWN, HOSTILE_MARKDOWN, HOSTILE_OUTPUTS, MARK, PNG_1x1, hostile_notebook, hostile_student, page_problems
from notebooks import ROOT

A1 = "a1_helpers"
NBGRADER_TEMPLATES = Path(__import__("nbgrader").__file__).parent / "server_extensions" / "formgrader" / "templates"


def render(nb, template="feedback", config=None):
    """The page formgrader ("formgrade") or the feedback ("feedback") would make of ``nb``."""
    from nbconvert.exporters import HTMLExporter
    from traitlets.config import Config

    config = copy.deepcopy(config) if config is not None else Config()
    config.HTMLExporter.template_name = template
    config.HTMLExporter.extra_template_basedirs = [str(NBGRADER_TEMPLATES)]
    config.HTMLExporter.extra_template_paths = [str(NBGRADER_TEMPLATES.parent / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    resources = {"nbgrader": {"notebook": "n", "score": 0, "max_score": 1, "late_penalty": 0}, "base_url": "", "index": 0, "total": 1}
    page, _ = HTMLExporter(config=config).from_notebook_node(copy.deepcopy(nb), resources=resources)
    return page


def _one_output(bundle):
    bundle = dict(bundle)
    metadata = bundle.pop("metadata", {})
    return new_notebook(cells=[new_code_cell("x", execution_count=1, outputs=[new_output("display_data", data=bundle, metadata=metadata)])])


# ----------------------------------------------------------------------------------------- the catalogue


def test_the_catalogue_is_live_before_sanitizing():
    """The detector sees the attacks in unsanitized pages (else the tests below would prove nothing)."""
    page = render(hostile_notebook())
    problems = page_problems(page)
    for what in ("<img onerror=...>", "inside <script>", "javascript:", "MathJax command \\href"):
        assert any(what.split("...")[0] in p for p in problems), (what, problems[:20])


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_output_is_inert_in_formgrader_and_feedback(name):
    nb = _one_output(HOSTILE_OUTPUTS[name])
    notes = sanitize_notebook(nb)
    nbformat.validate(nb)
    outputs = nb.cells[0].outputs
    for output in outputs:
        assert set(output.get("data", {})) <= ALLOWED_MIMES, output
        assert "isolated" not in str(output.get("metadata", {})) and "filenames" not in output.get("metadata", {})
    for template in ("formgrade", "feedback"):
        assert page_problems(render(nb, template)) == [], (template, outputs)
    removed = set(HOSTILE_OUTPUTS[name]) - ALLOWED_MIMES - {"metadata"}
    if removed:  # a type removed is said so, in the cell where it was
        assert notes and outputs[-1].output_type == "stream" and outputs[-1].text.startswith(NOTE), outputs
        assert all(mime.split("/")[1][:10] in outputs[-1].text for mime in removed)


@pytest.mark.parametrize("name", sorted(HOSTILE_MARKDOWN))
def test_hostile_markdown_is_inert_and_says_so(name):
    nb = new_notebook(cells=[new_markdown_cell(HOSTILE_MARKDOWN[name])])
    notes = sanitize_notebook(nb)
    source = nb.cells[0].source
    assert notes and source.startswith(f"> *{NOTE}"), source
    assert rendered_markdown_is_safe(sanitize._render_markdown(source))
    for template in ("formgrade", "feedback"):
        assert page_problems(render(nb, template)) == [], (template, source)


@pytest.mark.parametrize("name", sorted(HOSTILE_MARKDOWN))
def test_each_fallback_for_markdown_is_safe_on_its_own(name):
    """The rewrite of a cell is checked as rendered; the two fallbacks behind it (every ``&`` and ``<`` as text;
    then the cell as a code block) are each safe by themselves too."""
    source = HOSTILE_MARKDOWN[name]
    assert rendered_markdown_is_safe(sanitize._render_markdown(sanitize._rewrite_markdown(source, {})))
    assert rendered_markdown_is_safe(sanitize._render_markdown(sanitize._escape_everything(source)))
    assert rendered_markdown_is_safe(sanitize._render_markdown(sanitize._as_code_block(source)))


def test_a_cell_with_every_markdown_attack_stays_markdown():
    source, note = sanitize_markdown("\n\n".join(HOSTILE_MARKDOWN.values()))
    assert note.startswith("raw HTML in this cell was made inert") and "The rest of my answer." in source


def test_markdown_keeps_the_students_words_as_text():
    source, note = sanitize_markdown(HOSTILE_MARKDOWN["md-img-onerror"])
    assert note and "My answer." in source
    rendered = sanitize._render_markdown(HOSTILE_MARKDOWN["md-script-block"])
    assert "<script>" in rendered  # nbconvert alone renders it live
    source, _ = sanitize_markdown(HOSTILE_MARKDOWN["md-script-block"])
    rendered = sanitize._render_markdown(source)
    assert "&lt;script&gt;" in rendered and "The rest of my answer." in rendered  # shown as text, nothing lost


def test_the_whole_hostile_notebook_is_inert_and_valid():
    nb = hostile_notebook()
    notes = sanitize_notebook(nb)
    nbformat.validate(nb)
    assert "widgets" not in nb.metadata and "<" not in nb.metadata.title and "<" not in nb.metadata.authors[0]["name"]
    attached = nb.cells[-1]
    assert list(attached.attachments) == ["ok.png"] and any("evil.svg" in n for n in notes)
    for template in ("formgrade", "feedback", "classic", "lab"):
        assert page_problems(render(nb, template)) == [], template
    # A second pass finds nothing more to do: what the first one left is stable.
    again = copy.deepcopy(nb)
    assert sanitize_notebook(again) == [] and again == nb


def test_raw_html_cell_is_cleaned():
    nb = hostile_notebook()
    sanitize_notebook(nb)
    raw = next(c for c in nb.cells if c.cell_type == "raw")
    assert "onerror" not in raw.source and raw.source.startswith(f"<p>{NOTE}")


# ----------------------------------------------------------------------------------- honest content survives


@pytest.mark.parametrize("name", sorted(HONEST_MARKDOWN))
def test_honest_markdown_is_left_exactly_as_it_is(name):
    nb = new_notebook(cells=[new_markdown_cell(HONEST_MARKDOWN[name])])
    assert sanitize_notebook(nb) == []
    assert nb.cells[0].source == HONEST_MARKDOWN[name]


def test_a_matplotlib_figure_is_kept_byte_for_byte():
    import base64

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, 1, 4], label="loss")
    ax.legend()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    png = base64.b64encode(buffer.getvalue()).decode()
    bundle = {"image/png": png, "text/plain": "<Figure size 300x200 with 1 Axes>"}
    nb = new_notebook(cells=[new_code_cell("plt.plot()", execution_count=3, outputs=[
        new_output("display_data", data=bundle, metadata={"image/png": {"width": 300, "height": 200}}),
        new_output("stream", name="stdout", text="epoch 1: loss 0.52 < 0.6\n"),
    ])])
    before = copy.deepcopy(nb)
    assert sanitize_notebook(nb) == [] and nb == before


def test_a_pandas_table_keeps_its_rows_and_columns():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"epoch": [1, 2], "loss <train>": [0.52, 0.31]})
    bundle = {"text/html": frame._repr_html_(), "text/plain": repr(frame)}
    nb = new_notebook(cells=[new_code_cell("df", execution_count=1, outputs=[new_output("execute_result", data=bundle, execution_count=1)])])
    assert sanitize_notebook(nb) == []  # nothing worth a note: only its style block and classes go
    cleaned = nb.cells[0].outputs[0].data["text/html"]
    cells = lambda page: re.findall(r"<t[hd](?:\s[^>]*)?>(.*?)</t[hd]>", page, flags=re.S)  # noqa: E731
    assert cells(cleaned) == cells(bundle["text/html"]) and "loss &lt;train&gt;" in cleaned
    assert "<style" not in cleaned and "class=" not in cleaned and nb.cells[0].outputs[0].data["text/plain"] == bundle["text/plain"]


def test_honest_latex_json_errors_and_gifs_are_kept():
    outputs = [
        new_output("display_data", data={"text/latex": "$$\\frac{\\partial L}{\\partial z} = p - y$$", "text/plain": "<Latex>"}),
        new_output("display_data", data={"application/json": {"a": [1, 2]}, "text/plain": "{'a': [1, 2]}"}),
        new_output("display_data", data={"image/gif": PNG_1x1}),
        new_output("error", ename="AssertionError", evalue="relu(-1) should be 0", traceback=["\x1b[0;31mAssertionError\x1b[0m: relu(-1) should be 0"]),
        new_output("stream", name="stderr", text="RuntimeWarning: overflow\n"),
    ]
    nb = new_notebook(cells=[new_code_cell("x", execution_count=1, outputs=outputs)])
    before = copy.deepcopy(nb)
    assert sanitize_notebook(nb) == [] and nb == before


@pytest.mark.parametrize("kind", ["source", "release"])
def test_the_courses_own_notebooks_are_left_exactly_as_they_are(kind):
    paths = sorted((ROOT / kind).glob("*/*.ipynb")) + (sorted((ROOT / "notebooks").glob("*.ipynb")) if kind == "source" else [])
    assert paths
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        before = copy.deepcopy(nb)
        assert sanitize_notebook(nb) == [] and nb == before, path


# ------------------------------------------------------------------------------------------------ bounds


def test_an_output_of_100_mb_is_cut_quickly_with_a_note():
    text = ("x" * 99 + "\n") * 1_000_000  # 100 MB printed
    nb = new_notebook(cells=[new_code_cell("print(...)", execution_count=1, outputs=[new_output("stream", name="stdout", text=text)])])
    del text
    start = time.perf_counter()
    notes = sanitize_notebook(nb)
    assert time.perf_counter() - start < 10
    outputs = nb.cells[0].outputs
    assert MAX_TEXT_CHARS <= len(outputs[0].text) < MAX_TEXT_CHARS + 200 and f"{NOTE} cut here" in outputs[0].text
    assert outputs[-1].text.startswith(NOTE) and "cut at 1,000,000 of 100,000,000" in outputs[-1].text and notes


def test_a_long_single_line_is_cut_in_text_html_and_errors():
    line = "A" * 5_000_000  # LimitOutput counts lines: one line of any length passes it
    outputs = [
        new_output("display_data", data={"text/plain": line, "text/html": f"<p>{line}</p>"}),
        new_output("error", ename="ValueError", evalue=line, traceback=[line, line]),
    ]
    nb = new_notebook(cells=[new_code_cell("x", execution_count=1, outputs=outputs)])
    sanitize_notebook(nb)
    display, error = nb.cells[0].outputs[:2]
    assert len(display.data["text/plain"]) < MAX_TEXT_CHARS + 200 and len(display.data["text/html"]) < MAX_TEXT_CHARS + 200
    assert len(error.evalue) < MAX_TEXT_CHARS + 200 and sum(map(len, error.traceback)) < MAX_TEXT_CHARS + 200
    assert error.ename == "ValueError"


def test_an_image_above_the_bound_is_removed_with_a_note():
    big = "A" * (sanitize.MAX_IMAGE_CHARS + 4)
    nb = new_notebook(cells=[new_code_cell("x", execution_count=1, outputs=[new_output("display_data", data={"image/png": big})])])
    notes = sanitize_notebook(nb)
    assert "image/png" not in nb.cells[0].outputs[0].data and "removed an image/png image" in notes[0]
    assert nb.cells[-1].outputs[-1].text.startswith(NOTE)


def _graded(grade_id, *outputs, points=2.0):
    cell = new_code_cell("check()", execution_count=1, outputs=list(outputs))
    cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": points, "grade_id": grade_id, "schema_version": 3}
    return cell


def test_the_notebook_bound_keeps_nbgraders_scores():
    """Above the notebook's bound the largest outputs become notes, but every output keeps its kind: an error or
    stderr still scores 0, an execute_result's text is still the partial credit, others still full marks."""
    noise = "y" * 30_000
    cells = [
        _graded("error", new_output("stream", name="stdout", text=noise), new_output("error", ename="AssertionError", evalue=noise, traceback=[noise])),
        _graded("stderr", new_output("stream", name="stderr", text=noise)),
        _graded("partial", new_output("stream", name="stdout", text=noise), new_output("execute_result", data={"text/plain": "0.5", "text/html": f"<p>{noise}</p>"}, execution_count=1)),
        _graded("full", new_output("display_data", data={"text/plain": noise}), new_output("stream", name="stdout", text=noise)),
        new_markdown_cell("# notes\n\n" + noise),
    ]
    nb = new_notebook(cells=cells)
    before = {c.metadata["nbgrader"]["grade_id"]: determine_grade(c) for c in nb.cells if "nbgrader" in c.metadata}
    assert [v[0] for v in before.values()] == [0, 0, 0.5, 2.0]
    notes = sanitize_notebook(nb, max_notebook=60_000)
    after = {c.metadata["nbgrader"]["grade_id"]: determine_grade(c) for c in nb.cells if "nbgrader" in c.metadata}
    assert after == before
    assert sum(sanitize._cell_size(c) for c in nb.cells) <= 60_000
    assert any("the notebook is above 60,000 characters" in n for n in notes)
    assert any(NOTE in o.get("text", "") + str(o.get("data", {})) + str(o.get("traceback", "")) for c in nb.cells[:4] for o in c.outputs)
    nbformat.validate(nb)


def test_scores_are_unchanged_by_the_catalogue():
    """Hostile outputs in test cells: nbgrader scores each cell as it did before sanitizing."""
    cells = []
    for i, (name, bundle) in enumerate(sorted(HOSTILE_OUTPUTS.items())):
        bundle = {k: v for k, v in bundle.items() if k != "metadata"}
        last = new_output("execute_result", data={"text/plain": "1.5"}, execution_count=1) if i % 3 == 0 else (
            new_output("error", ename="AssertionError", evalue="x", traceback=[]) if i % 3 == 1 else new_output("stream", name="stdout", text="ok\n"))
        cells.append(_graded(name, new_output("display_data", data=bundle), last))
    nb = new_notebook(cells=cells)
    before = [determine_grade(c) for c in nb.cells]
    sanitize_notebook(nb)
    assert [determine_grade(c) for c in nb.cells] == before


# ------------------------------------------------------------------------------------ where it is configured


def _course_config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


def test_the_course_config_runs_it_after_limit_output_in_feedback_and_in_formgrader():
    config = _course_config()
    steps = list(config.Autograde.autograde_preprocessors)
    name = "autograder.preprocessors.sanitize.SanitizeSubmission"
    assert steps[steps.index("nbgrader.preprocessors.LimitOutput") + 1] == name
    assert steps.index(name) < steps.index("nbgrader.preprocessors.SaveAutoGrades")
    assert list(config.GenerateFeedback.preprocessors)[0] == name
    from nbgrader.converters import GenerateFeedback

    nbgraders = [p.__name__ for p in GenerateFeedback.class_traits()["preprocessors"].default()]
    assert [p.rsplit(".", 1)[1] for p in config.GenerateFeedback.preprocessors[1:]] == nbgraders  # nbgrader's own, unchanged
    assert name in config.HTMLExporter.preprocessors


def test_formgrader_view_of_an_old_unsanitized_notebook_is_cleaned_when_rendered():
    """An autograded notebook stored before the sanitizer existed: formgrader's exporter (HTMLExporter with the
    course's config) cleans it as it renders it."""
    nb = hostile_notebook()
    assert page_problems(render(nb, "formgrade")) != []
    assert page_problems(render(nb, "formgrade", config=_course_config())) == []


def test_the_preprocessor_runs_once_per_export_and_logs_what_it_removed(caplog):
    nb = _one_output(HOSTILE_OUTPUTS["javascript-output"])
    resources = {}
    step = SanitizeSubmission()
    nb, resources = step.preprocess(nb, resources)
    assert resources["nnfs_sanitizer_ran"] and any("application/javascript" in n for n in resources["nnfs_sanitized"])
    marked = copy.deepcopy(_one_output(HOSTILE_OUTPUTS["javascript-output"]))
    step.preprocess(marked, resources)  # the same export again: skipped
    assert "application/javascript" in marked.cells[0].outputs[0].data


# -------------------------------------------------------------------------------- plain nbgrader, end to end


@pytest.fixture(scope="module")
def plain_nbgrader(tmp_path_factory):
    """A copy of the course's a1, released, with Ada and the hostile student, autograded and fed back by plain
    nbgrader (no nnfs worker): the configured steps alone sanitize."""
    course = tmp_path_factory.mktemp("plain-nbgrader-sanitize")
    shutil.copytree(ROOT / "source" / A1, course / "source" / A1)
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}"}

    def nbgrader(*args):
        run = subprocess.run([str(venv_bin / "nbgrader"), *args], cwd=course, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        return run.stdout + run.stderr

    nbgrader("generate_assignment", A1, "--force")
    release = course / "release" / A1 / f"{A1}.ipynb"
    ada = next(s for s in example_students(A1) if s.student_id == "example-ada")
    for student, text in (("ada", build_submission(release, ada)), ("mallory", hostile_student(release))):
        path = course / "submitted" / student / A1 / f"{A1}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(text)
    log = nbgrader("autograde", A1)
    nbgrader("generate_feedback", A1)
    return course, log


def _test_scores(course, student):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {g.name: g.score for g in gb.find_submission_notebook(A1, A1, student).grades if g.name.endswith("_tests")}


def test_plain_nbgrader_autograde_stores_and_feeds_back_sanitized_notebooks(plain_nbgrader):
    course, log = plain_nbgrader
    assert "sanitized: " in log
    from autograder.assignments import spec
    from autograder.checks import a1_helpers as a1_checks

    full = {spec(A1).test_cell(name): float(points) for name, points in a1_checks.POINTS.items()}
    assert _test_scores(course, "ada") == full and _test_scores(course, "mallory") == full
    autograded = nbformat.read(str(course / "autograded" / "mallory" / A1 / f"{A1}.ipynb"), as_version=4)
    relu = next(c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu")
    assert len(relu.outputs) > 10 and relu.outputs[-1].text.startswith(NOTE)
    assert page_problems(render(autograded, "formgrade")) == []
    feedback = (course / "feedback" / "mallory" / A1 / f"{A1}.html").read_text()
    assert page_problems(feedback) == [] and MARK in feedback  # the student's text is there, as text
    ada = nbformat.read(str(course / "autograded" / "ada" / A1 / f"{A1}.ipynb"), as_version=4)
    assert not any(NOTE in str(c) for c in ada.cells)
