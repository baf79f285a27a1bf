"""A catalogue of hostile notebook content, as data: what a student can put where a browser renders it.

Every payload calls ``payload(name)``: JavaScript that, if it ever ran, would leave marks a test can see (a console
message, ``window.__pwned``, a dialog, and a file ``pwned-<name>.txt`` written into the course through the Jupyter
server's contents API with the page's ``_xsrf`` cookie, which is what the attack in issue #14 did). The marker
``PWNED`` is in every payload, so ``PageCheck`` can also say where attacker text landed in an HTML page: in text it
is inert; in a ``<script>``, an event handler, a URL or a style it is not.

Used by tests/test_sanitize.py (rules and rendered pages) and tests/test_browser.py (a real grading run, formgrader
and the feedback page in Chromium).
"""

from __future__ import annotations

import base64
import html
import re
from html.parser import HTMLParser

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_output, new_raw_cell

MARK = "PWNED"


def payload(name: str) -> str:
    """JavaScript (no double quotes, so it fits any attribute) that marks the page and writes pwned-<name>.txt
    (where the page may read its cookie: a sandboxed page only gets the marks)."""
    return (
        "(function(){"
        f"console.log('{MARK}-{name}');"
        f"window.__pwned=(window.__pwned||[]).concat(['{name}']);"
        "try{var m=document.cookie.match(/_xsrf=([^;]+)/);"
        f"fetch('/api/contents/pwned-{name}.txt',{{method:'PUT',credentials:'same-origin',"
        "headers:{'Content-Type':'application/json','X-XSRFToken':m?decodeURIComponent(m[1]):''},"
        "body:JSON.stringify({type:'file',format:'text',content:'pwned'})})}catch(e){}"
        f"alert('{MARK}-{name}')"
        "})()"
    )


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _svg(name):
    return f'<svg xmlns="http://www.w3.org/2000/svg" onload="{payload(name)}"><script>{payload(name + "-inner")}</script><rect width="10" height="10"/></svg>'


# A real 1x1 PNG (what matplotlib's inline backend sends is the same kind of data, larger).
PNG_1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


# name -> a display_data/execute_result bundle (mime -> value[, "metadata": {...}]).
HOSTILE_OUTPUTS = {
    "html-img-onerror": {"text/html": f'<img src="x" onerror="{payload("html-img-onerror")}">', "text/plain": "<IPython.core.display.HTML object>"},
    "html-script": {"text/html": f"<script>{payload('html-script')}</script><p>hello</p>"},
    "html-script-uppercase-split": {"text/html": f"<SCRIPT >{payload('html-script-uppercase-split')}</SCRIPT\n>"},
    "svg-output": {"image/svg+xml": _svg("svg-output"), "image/png": PNG_1x1},
    "svg-in-html": {"text/html": f'<svg><script>{payload("svg-in-html")}</script><a xlink:href="javascript:{payload("svg-in-html-a")}"><text>x</text></a></svg>'},
    "html-javascript-href": {"text/html": f'<a href="javascript:{payload("html-javascript-href")}">click</a> <a href=" JaVa&#x53;cript:{payload("html-javascript-href-2")}">2</a> <a href="java\tscript:{MARK}()">3</a>'},
    "html-data-href": {"text/html": f'<a href="data:text/html;base64,{_b64("<script>" + payload("html-data-href") + "</script>")}">x</a>'},
    "html-svg-data-image": {"text/html": f'<img src="data:image/svg+xml;base64,{_b64(_svg("html-svg-data-image"))}">'},
    "html-iframe": {"text/html": f'<iframe src="javascript:{payload("html-iframe")}"></iframe><iframe srcdoc="<script>{html.escape(payload("html-iframe-srcdoc"))}</script>"></iframe>'},
    "html-form": {"text/html": f'<form action="/api/contents/pwned-html-form.txt" method="post"><input name="{MARK}" value="x"><button formaction="javascript:{payload("html-form")}">Go</button></form>'},
    "html-object-embed": {"text/html": f'<object data="javascript:{payload("html-object")}"></object><embed src="javascript:{payload("html-embed")}">'},
    "html-meta-refresh": {"text/html": f'<meta http-equiv="refresh" content="0;url=javascript:{payload("html-meta-refresh")}">'},
    "html-base-href": {"text/html": f'<base href="https://{MARK}.invalid/"><link rel="stylesheet" href="https://{MARK}.invalid/x.css">'},
    "html-style-overlay": {"text/html": f'<style>body {{ display: none }} /* {MARK} */</style><div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:99999;background:white /* {MARK} */">Score: 10 / 10</div>'},
    "html-class-overlay": {"text/html": f'<div class="navbar navbar-fixed-top modal in {MARK}">Score: 10 / 10</div><span id="{MARK}" data-link="{MARK}" data-toggle="modal">x</span>'},
    "html-event-handlers": {"text/html": f'<details open ontoggle="{payload("html-details")}"><summary onmouseover="{payload("html-summary")}">s</summary></details><body onload="{payload("html-body")}"><video><source onerror="{payload("html-video")}"></video>'},
    "html-isolated": {"text/html": f"<script>{payload('html-isolated')}</script>", "metadata": {"text/html": {"isolated": True}}},
    "html-comment-breakout": {"text/html": f'<!--><img src=x onerror="{payload("html-comment")}">-->'},
    "html-math-href": {"text/html": f"<p>$\\href{{javascript:{payload('html-math-href')}}}{{click}}$ and $&#92;href{{javascript:{MARK}()}}{{x}}$ and $\\style{{position:fixed}}{{{MARK}}}$</p>"},
    "javascript-output": {"application/javascript": payload("javascript-output"), "text/plain": "<IPython.core.display.Javascript object>"},
    "widget-view": {"application/vnd.jupyter.widget-view+json": {"model_id": MARK, "version_major": 2, "version_minor": 0}, "text/plain": "IntSlider(value=0)"},
    "unknown-mime": {"application/x-nnfs-evil": f"<script>{payload('unknown-mime')}</script>", "text/plain": "x"},
    "pdf-output": {"application/pdf": _b64("%PDF-1.4 " + MARK)},
    "markdown-output": {"text/markdown": f"[click](javascript:{payload('markdown-output')}) <img src=x onerror=\"{payload('markdown-output-img')}\">\n\n```mermaid\n<img src=x onerror=\"{payload('markdown-output-mermaid')}\">\n```"},
    "latex-href": {"text/latex": f"$\\href{{javascript:{payload('latex-href')}}}{{click}}$ \\(\\require{{{MARK}}}\\)"},
    "png-not-base64": {"image/png": f'"><img src=x onerror="{payload("png-not-base64")}">'},
    "png-metadata": {"image/png": PNG_1x1, "metadata": {"image/png": {"width": f'1" onerror="{payload("png-metadata")}', "height": 10}, "filenames": {"image/png": f"javascript:{payload('png-filenames')}"}}},
}

# name -> the source of a markdown cell the student writes.
HOSTILE_MARKDOWN = {
    "md-img-onerror": f'My answer. <img src="x" onerror="{payload("md-img-onerror")}">',
    "md-script-block": f"<script>\n{payload('md-script-block')}\n</script>\n\nThe rest of my answer.",
    "md-iframe": f'<iframe src="javascript:{payload("md-iframe")}"></iframe>',
    "md-form": f'<form action="/api/contents"><button formaction="javascript:{payload("md-form")}">Submit</button></form>',
    "md-object-embed": f'<object data="javascript:{payload("md-object")}"></object><embed src="javascript:{payload("md-embed")}">',
    "md-style": f"<style>body {{ display: none }} /* {MARK} */</style>\n\nHidden page.",
    "md-style-overlay": f'<div style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:99999;background:white" class="{MARK}">Score: 10 / 10</div>',
    "md-svg": f'<svg onload="{payload("md-svg")}"><rect/></svg>',
    "md-meta-base": f'<meta http-equiv="refresh" content="0;url=javascript:{payload("md-meta")}"><base href="https://{MARK}.invalid/">',
    "md-links": f"[inline](javascript:{payload('md-link-inline')}) [spaced]( JAVASCRIPT:{MARK}() ) "
    f"![image](jav&#x61;script:{MARK}()) <javascript:{payload('md-autolink')}> [ref][r] [data](data:text/html,{MARK})\n\n"
    f"[r]: javascript:{payload('md-link-ref')}",
    "md-raw-anchor": f'<a href="javascript:{payload("md-raw-anchor")}" onclick="{payload("md-raw-anchor-click")}">link</a>',
    "md-mermaid": f'```mermaid\ngraph TD\nA["<img src=x onerror=\\"{payload("md-mermaid")}\\">"]\n<img src=x onerror="{payload("md-mermaid-raw")}">\n```',
    "md-html-block-with-backticks": f'<div>\n`\n<img src="x" onerror="{payload("md-div-code")}">\n`\n</div>',
    "md-p-block-with-code": f'<p>\n`<img src="x" onerror="{payload("md-p-code")}">`\n</p>',
    "md-math-href": f"$\\href{{javascript:{payload('md-math-href')}}}{{click}}$ and \\\\(\\\\href{{javascript:{MARK}()}}{{x}}\\\\) and "
    f"$$\\class{{{MARK}}}{{x}}$$",
    "md-entity-href": f"&#92;href{{javascript:{MARK}()}}{{x}} in $x$",
    "md-details": f'<details open ontoggle="{payload("md-details")}"><summary>s</summary>x</details>',
    "md-comment": f'<!-- <img src=x onerror="{payload("md-comment")}"> -->',
    "md-server-paths": f"[out](/logout) ![x](../../../api/contents/{MARK})",
}

# Markdown students really write: it must come through exactly as it was.
HONEST_MARKDOWN = {
    "quotes-code-math": "# Q1\n\n> The gradient of the loss is $\\partial L / \\partial z = p - y$.\n> > quoted twice\n\n"
    "`x[x < 0] = 0` works, and $a<b$ and $$c<d$$ and \\\\(e<f\\\\), and a < b in words.",
    "code-blocks": "```python\nif a<b:\n    print('<b>not bold</b>')\n```\n\n```\nraw <tag> & more\n```\n\n    indented <code>",
    "lists-tables": "1. one\n2. two\n\n- [x] done\n- [ ] todo\n\n| x | y |\n|:--|--:|\n| `a|b` | $\\frac{1}{2}$ |\n\nterm\n: definition",
    "links-images": "[docs](https://numpy.org/doc/?a=1&b=2), <https://example.com>, ![figure](figure.png), [below](#q1), mail <me@example.com>",
    "simple-tags": "H<sub>2</sub>O, x<sup>2</sup>, <kbd>Ctrl</kbd>+<kbd>C</kbd>, <b>bold</b>, <em>e</em><br>next line",
    "environments": "$$\\begin{aligned} a &< b \\\\ c &> d \\end{aligned}$$\n\n\\begin{equation} x<y \\end{equation}\n\n---\n\n**Done** ~~not~~ & that's all.",
}


def hostile_cells() -> list:
    """Cells carrying every catalogue entry: code cells with the outputs as a kernel would store them, markdown
    cells, a raw HTML cell, and a markdown cell with SVG and PNG attachments."""
    cells = []
    for name, bundle in HOSTILE_OUTPUTS.items():
        bundle = dict(bundle)
        metadata = bundle.pop("metadata", {})
        cells.append(new_code_cell(f"# {name}", execution_count=1, outputs=[new_output("display_data", data=bundle, metadata=metadata)]))
    cells.append(new_code_cell("x", execution_count=2, outputs=[new_output(
        "execute_result", data={"text/html": f'<img src=x onerror="{payload("execute-result")}">', "text/plain": "0.5"}, execution_count=2)]))
    for source in HOSTILE_MARKDOWN.values():
        cells.append(new_markdown_cell(source))
    cells.append(new_raw_cell(f'<img src=x onerror="{payload("raw-cell")}">', metadata={"raw_mimetype": "text/html"}))
    attached = new_markdown_cell("![svg](attachment:evil.svg) ![png](attachment:ok.png)")
    attached["attachments"] = {"evil.svg": {"image/svg+xml": _b64(_svg("attachment-svg"))}, "ok.png": {"image/png": PNG_1x1}}
    cells.append(attached)
    return cells


def hostile_notebook():
    nb = nbformat.v4.new_notebook(cells=hostile_cells())
    nb.metadata.update({
        "title": f'</title><script>{payload("metadata-title")}</script>',
        "authors": [{"name": f'<img src=x onerror="{payload("metadata-author")}">'}],
        "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {MARK: {"model_name": "HTMLModel", "state": {"value": f"<img src=x onerror=\"{payload('widget')}\">"}}}}},
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    })
    return nb


def hostile_student(release_notebook) -> str:
    """Ada's right answers, with every catalogue entry shown from her relu cell and written into her integrity
    declaration and a free markdown cell: the submission text."""
    from autograder.examples import ExampleStudent, build_submission, example_students

    ada = next(s for s in example_students("a1_helpers") if s.student_id == "example-ada")
    answers = dict(ada.answers)
    shows = "\n".join(
        f"display({{k: v for k, v in {bundle!r}.items() if k != 'metadata'}}, raw=True)" for bundle in HOSTILE_OUTPUTS.values()
    )
    answers["relu"] = "from IPython.display import display\n" + shows + "\n\n" + answers["relu"]
    answers["integrity"] = "\n\n".join(HOSTILE_MARKDOWN.values())
    nb = nbformat.reads(build_submission(release_notebook, ExampleStudent("mallory", "a1_helpers", "", answers)), as_version=4)
    free = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "nbgrader" not in c.metadata)
    nb.cells[free].source = HOSTILE_MARKDOWN["md-img-onerror"] + "\n\n" + nb.cells[free].source
    return nbformat.writes(nb)


# --------------------------------------------------------------------------- where attacker text landed in a page

# TeX commands that act in MathJax (links, classes, styles, extensions).
TEX_ACTIVE = re.compile(r"\\(?:href|url|class|cssId|style|require|unicode|mmlToken|data|html)(?![A-Za-z])")


class PageCheck(HTMLParser):
    """Reads a rendered page and lists every place where the attacker's marker or a dangerous construct sits
    somewhere a browser would act on it. ``problems`` is empty for a safe page."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "srcdoc", "poster", "background"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems, self._raw = [], None
        self._skip = 0  # inside <pre>/<code>: MathJax leaves that text alone
        self._text = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            web_link = name in ("href", "src") and re.match(r"\s*https?://", value, re.I)
            if MARK.lower() in value.lower() and not web_link:  # an event handler, URL, style, class or id the student wrote
                self.problems.append(f"<{tag} {name}=...{MARK}...>")
            if name in self.URL_ATTRIBUTES:
                bare = re.sub(r"[\x00-\x20]", "", value).lower()
                if bare.startswith(("javascript:", "vbscript:")) or (bare.startswith("data:") and not re.match(r"data:image/(png|jpeg|gif)[;,]", bare)):
                    self.problems.append(f"<{tag} {name}={value[:40]!r}>")
        if tag in ("script", "style"):
            self._raw = tag
        if tag in ("iframe", "object", "embed", "form", "base", "meta", "svg", "frame", "applet") and any(MARK in (v or "") for _, v in attrs):
            self.problems.append(f"<{tag}> from the student")
        if tag in ("pre", "code"):
            self._skip += 1

    def handle_endtag(self, tag):
        if tag == self._raw:
            self._raw = None
        if tag in ("pre", "code") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if self._raw and MARK in data:
            self.problems.append(f"{MARK} inside <{self._raw}>")
        elif not self._raw and not self._skip:
            self._text.append(data)

    def close(self):
        super().close()
        text = "".join(self._text)
        for m in TEX_ACTIVE.finditer(text):
            self.problems.append(f"MathJax command {m.group(0)} in the page's text: {text[max(0, m.start() - 30):m.end() + 30]!r}")


def page_problems(page: str) -> list:
    check = PageCheck()
    check.feed(page)
    check.close()
    return check.problems
