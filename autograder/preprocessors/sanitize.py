"""Whatever a browser will render of a submission is hostile data: this is the last line before it is stored.

formgrader's submission view and the feedback HTML are nbconvert pages served from the course's own origin (the
Jupyter server, with its `/api/contents` and `/api/terminals`). nbconvert renders a notebook's ``text/html`` and
``text/markdown`` outputs and its markdown cells as live HTML, and its markdown renderer lets raw HTML and
``javascript:`` links through: a student's ``display(HTML('<img src=x onerror=...>'))`` or a markdown cell holding
that tag ran in the instructor's browser when formgrader showed the submission. ``sanitize_notebook`` rewrites a
notebook so that nothing in it can run script, load a frame, submit a form, or restyle or cover the page, and
bounds its size; ``SanitizeSubmission`` is the same as an nbgrader/nbconvert preprocessor.

Outputs (``display_data``, ``execute_result``):
  * kept as they are: ``text/plain``, ``image/png``, ``image/jpeg``, ``image/gif`` (base64 text only), ``text/latex``
    and ``application/json`` (escaped by every renderer; MathJax's dangerous commands are disabled, below);
  * ``text/html`` is cleaned by nh3 (the Ammonia allow-list sanitizer): tags for text, lists, tables, links and
    images only; no ``class``, ``id``, ``style`` or ``data-*`` attributes (formgrader's own CSS and jQuery act on
    those: bootstrap's ``navbar-fixed-top`` covers the page, ``data-link`` is followed), links to http(s)/mailto,
    images from http(s) or ``data:image/png|jpeg|gif``, no relative URLs (they would address the Jupyter server);
  * ``text/markdown`` is rendered by nbconvert's own renderer and cleaned the same way, and stored as ``text/html``;
  * everything else is removed with a visible note: ``application/javascript``, widget views, ``image/svg+xml``
    (an SVG is a document that can hold script; matplotlib's inline figures are PNG, and a PNG alongside is kept),
    PDFs, and any type not listed above;
  * output metadata keeps image sizes only (``isolated`` would frame the HTML, ``filenames`` would point images
    elsewhere).
Markdown cells (the student's own writing), rendered by nbconvert as the templates do and checked: a cell whose
rendering holds only the tags and attributes nbconvert's markdown produces (or simple formatting tags such as
``<b>``, ``<sub>``, ``<br>``) and safe URLs is left exactly as it is. Otherwise raw HTML tags outside code and math
are escaped, so they show as text (simple formatting tags, links and images are kept with safe attributes only),
unsafe link targets are replaced, mermaid blocks (rendered unescaped by nbconvert) become plain code blocks; the
result is rendered and checked again, and if it still is not safe the whole cell is shown as a code block.
Ordinary markdown (``>`` quotes, ``<`` in code and math) renders unchanged. A note above the cell says what
changed. Raw cells that nbconvert would insert as HTML are cleaned like HTML outputs. Cell attachments keep
png/jpeg/gif only. Notebook metadata: ``widgets`` (widget state with raw HTML, and a script loader in the page) is
removed; ``title``/``authors`` lose HTML characters.
MathJax (loaded by nbconvert's pages and by JupyterLab) reads TeX from markdown, HTML outputs and ``text/latex``:
``\\href``, ``\\class``, ``\\style``, ``\\cssId``, ``\\require``, ``\\unicode``, ... become ``\\ href`` (a TeX space
and the letters), so a link to ``javascript:`` or a styled box cannot be made from math either.

Bounds: each text output and each cell's source is cut at ``MAX_TEXT_CHARS``, each image above ``MAX_IMAGE_CHARS``
is removed, and when the whole notebook is above ``MAX_NOTEBOOK_CHARS`` its largest outputs are replaced by notes
until it fits; every cut leaves a visible note. Kinds of outputs, stream names and error outputs are never removed,
so nbgrader's scoring (an error or stderr output scores 0; an ``execute_result``'s text is the partial credit) is
the same before and after.

In ``c.Autograde.autograde_preprocessors`` it runs after ``LimitOutput`` and before ``SaveAutoGrades``, so the
autograded notebook (which formgrader renders) and the feedback (generated from it) are sanitized, under plain
``nbgrader autograde`` and ``nnfs grade`` alike. nbgrader_config.py also runs it in ``GenerateFeedback`` and in
formgrader's HTML exporter, for autograded notebooks stored before it existed.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse

import nh3
from nbformat import from_dict
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Integer

# Bounds, in characters. Measured on the course's own notebooks executed top to bottom (source/, quick mode,
# December 2026): the largest text output was 340 characters (a5's training log), the largest image 152,960
# characters of base64 (a3's decision boundary; a2-a5 figures are 25-131 K), the largest notebook 703,133
# characters (a4, 16 figures; a2 143 K, a3 298 K, a5 536 K). Each bound leaves a wide margin over that:
#   1 M characters per text output: 3,000x the course's largest, and LimitOutput's 1,000 lines at 1,000 characters;
#   5 M characters per image (a 3.7 MB PNG): 33x the largest figure, far more than a screen shows;
#   20 M characters per notebook: 28x the largest executed notebook, or four images at their bound.
# Past them a notebook is not an answer but a denial of service on the gradebook's disk, formgrader and the
# instructor's browser (a 400 MB output made nbgrader's autograde fail).
MAX_TEXT_CHARS = 1_000_000
MAX_IMAGE_CHARS = 5_000_000
MAX_NOTEBOOK_CHARS = 20_000_000
# What a cut output keeps, and what an output replaced to fit the notebook bound keeps.
_SHRUNK_CHARS = 2_000
_MAX_TRACEBACK_LINES = 200
_MAX_NAME_CHARS = 1_000

NOTE = "[nnfs-course sanitizer]"

IMAGE_MIMES = ("image/png", "image/jpeg", "image/gif")
TEXT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "application/json")
ALLOWED_MIMES = frozenset(TEXT_MIMES + IMAGE_MIMES)

# --- HTML (outputs, raw cells, rendered text/markdown) -------------------------------------------------------

HTML_TAGS = frozenset(
    "a abbr b blockquote br caption cite code col colgroup dd del details div dl dt em figcaption figure "
    "h1 h2 h3 h4 h5 h6 hr i img ins kbd li mark ol p pre q s samp small span strong sub summary sup "
    "table tbody td tfoot th thead tr u ul var".split()
)
HTML_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start"},
}
_SIZE = re.compile(r"^\s*\d{1,4}(?:\.\d+)?\s*(?:px|%)?\s*$")
_IMAGE_DATA_URL = re.compile(r"^data:image/(?:png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*$", re.I)
_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
# Worth a visible note when an HTML output held it (the cleaning itself does not depend on this). Not <style>,
# classes or style attributes: pandas writes them into every table, and they go without a word.
_ACTIVE_HTML = re.compile(
    r"<\s*/?\s*(?:script|iframe|frame|object|embed|applet|form|input|button|textarea|select|link|meta|base|"
    r"svg|math|template|portal|noscript)\b|\son[a-z]+\s*=|javascript\s*:|vbscript\s*:",
    re.I,
)

# --- MathJax ------------------------------------------------------------------------------------------------

# TeX commands that make links, classes, ids, CSS or load code in MathJax 2 (nbconvert's pages) and 3 (JupyterLab).
_TEX_ACTIVE = re.compile(
    r"\\(?=(?:href|url|class|cssId|style|require|unicode|mmlToken|data|html|attr|bbox|texttip|mathtip|toggle)"
    r"(?![A-Za-z]))"
)


# The same in markdown source, where a backslash can also be written as a character reference.
_TEX_ACTIVE_MARKDOWN = re.compile(
    r"(?:\\|&(?:#0*92|#[xX]0*5[cC]|bsol);?)(?=(?:href|url|class|cssId|style|require|unicode|mmlToken|data|html|attr|bbox|"
    r"texttip|mathtip|toggle)(?![A-Za-z]))"
)


def _neutralize_markdown_tex(text: str) -> str:
    return _TEX_ACTIVE_MARKDOWN.sub(r"\\ ", text)


def neutralize_tex(text: str) -> str:
    r"""``\href`` -> ``\ href``: a TeX control space and the letters; no backslash is left before the name."""
    return _TEX_ACTIVE.sub(r"\\ ", text)


# --- URLs ---------------------------------------------------------------------------------------------------

_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u00ad\u200b-\u200f\u2028\u2029\u2060\ufeff]")
REMOVED_URL = "#unsafe-link-removed"


def _decoded(url: str) -> str:
    """Character references decoded until none is left (mistune decodes ``&amp;#x61;`` down to ``a``), and
    whitespace and control characters dropped, as browsers drop them from a URL's scheme."""
    for _ in range(5):
        decoded = html.unescape(url)
        if decoded == url:
            break
        url = decoded
    return _INVISIBLE.sub("", url)


def _scheme(url: str) -> str | None:
    """The scheme a browser would see."""
    bare = _decoded(url).lower()
    if bare.startswith("<") and bare.endswith(">"):
        bare = bare[1:-1]
    m = _SCHEME.match(bare)
    return m.group(1) if m else None


def _safe_relative(url: str) -> bool:
    """A relative address below the page (``fig.png``, ``#part``): not from the server's root (``/logout``,
    ``//host``) and not up the tree (``..``), which would address the Jupyter server's own pages."""
    bare = urllib.parse.unquote(_decoded(url))
    bare = bare[1:-1] if bare.startswith("<") and bare.endswith(">") else bare
    return not bare.startswith(("/", "\\")) and ".." not in bare


def safe_link(url: str) -> bool:
    """http(s), mailto, or a relative link or fragment below the page."""
    scheme = _scheme(url)
    return scheme in ("http", "https", "mailto") or (scheme is None and _safe_relative(url))


def safe_image(url: str, relative: bool = True) -> bool:
    """http(s), a png/jpeg/gif data URL, or (where allowed) a relative address below the page."""
    scheme = _scheme(url)
    if scheme == "data":
        return bool(_IMAGE_DATA_URL.match(_decoded(url)))
    return scheme in ("http", "https") or (relative and scheme is None and _safe_relative(url))


def _output_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "href":
        return value if safe_link(value) else None
    if attribute == "src":
        return value if safe_image(value, relative=False) else None
    if attribute in ("width", "height"):
        return value if _SIZE.match(value) else None
    return value


def clean_html(fragment: str) -> str:
    """An HTML fragment reduced to the allow-list (nh3), with MathJax's active commands disabled."""
    cleaned = nh3.clean(
        fragment,
        tags=set(HTML_TAGS),
        clean_content_tags={"script", "style", "template", "noscript", "xmp", "iframe", "noembed", "noframes"},
        attributes={tag: set(names) for tag, names in HTML_ATTRIBUTES.items()},
        attribute_filter=_output_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes={"http", "https", "mailto", "data"},
        url_relative="deny",
    )
    return neutralize_tex(cleaned)


# --- markdown -----------------------------------------------------------------------------------------------


def _render_markdown(source: str, attachments: dict | None = None) -> str:
    """What nbconvert's templates (lab, classic, nbgrader's formgrade and feedback) make of a markdown cell."""
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    return MarkdownWithMath(renderer=IPythonRenderer(escape=False, attachments=attachments or {})).render(source)


# The tags and attributes nbconvert's markdown renderer writes itself (mistune with nbconvert's plugins, pygments
# for fenced code, anchors on headings), plus simple formatting tags students type. Anything else in a rendered
# cell came from raw HTML.
_RENDER_TAGS = frozenset(
    "a b blockquote br code dd del div dl dt em h1 h2 h3 h4 h5 h6 hr i img input ins kbd li mark ol p pre s "
    "small span strong sub sup table tbody td th thead tr u ul".split()
)
_VOID = frozenset({"br", "hr", "img", "input"})
_RENDER_ATTRIBUTES = {
    "a": {"href", "title", "class"},
    "img": {"src", "alt", "title", "width", "height"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"}, "h5": {"id"}, "h6": {"id"},
    "ol": {"start"},
    "th": {"style"}, "td": {"style"},
    "input": {"class", "type", "disabled", "checked"},
    "li": {"class"},
    "div": {"class"}, "span": {"class"}, "pre": {"class"}, "code": {"class"},
}  # fmt: skip
# Pygments' token classes are one to three letters and a digit ("k", "nn", "s2", "err"); the rest are mistune's.
_RENDER_CLASS = re.compile(r"^(?:[a-z]{1,3}[0-9]?|highlight|anchor-link|task-list-item|task-list-item-checkbox|language-[\w+#.\-]+)$")
_START_TAG = re.compile(r'<([a-zA-Z][a-zA-Z0-9]*)((?:\s+[a-zA-Z][a-zA-Z0-9-]*(?:="[^"<>]*")?)*)\s*/?>')
_END_TAG = re.compile(r"</([a-zA-Z][a-zA-Z0-9]*)\s*>")
_ATTRIBUTE = re.compile(r'\s+([a-zA-Z][a-zA-Z0-9-]*)(?:="([^"<>]*)")?')


def _rendered_attribute_ok(tag: str, name: str, value: str | None) -> bool:
    if name not in _RENDER_ATTRIBUTES.get(tag, ()):
        return False
    value = html.unescape(value or "")
    if name == "href":
        return safe_link(value)
    if name == "src":
        return safe_image(value)
    if name == "class":
        return all(_RENDER_CLASS.match(token) for token in value.split())
    if name == "style":
        return bool(re.fullmatch(r"\s*text-align\s*:\s*(?:left|right|center)\s*;?\s*", value))
    if name == "type":
        return value == "checkbox"
    if name in ("width", "height"):
        return bool(_SIZE.match(value))
    if name == "start":
        return value.isdigit()
    return True  # id (heading anchors), alt, title, disabled, checked: text in a double-quoted value


def rendered_markdown_is_safe(rendered: str) -> bool:
    """Whether HTML made by nbconvert's markdown renderer holds only what the renderer itself writes.

    Strict on purpose: every ``<`` must open a well-formed tag from the list, with double-quoted attributes from
    the list and safe values, tags must nest, and the text must not hold a MathJax command that acts. A cell that
    fails is rewritten; the check is never what makes a cell safe by itself being lenient."""
    stack = []
    position = 0
    while True:
        at = rendered.find("<", position)
        if at < 0:
            break
        start, end = _START_TAG.match(rendered, at), _END_TAG.match(rendered, at)
        if start:
            tag = start.group(1).lower()
            if tag not in _RENDER_TAGS:
                return False
            for m in _ATTRIBUTE.finditer(start.group(2)):
                if not _rendered_attribute_ok(tag, m.group(1).lower(), m.group(2)):
                    return False
            if tag not in _VOID and not start.group(0).endswith("/>"):
                stack.append(tag)
            position = start.end()
        elif end:
            tag = end.group(1).lower()
            if not stack or stack.pop() != tag:
                return False
            position = end.end()
        else:
            return False
    if stack:
        return False
    # MathJax (2 in nbconvert's pages, 3 in JupyterLab) leaves the text of <pre> and <code> alone.
    typeset = re.sub(r"(?s)<(pre|code)\b[^>]*>.*?</\1>", "", rendered)
    return not _TEX_ACTIVE.search(html.unescape(re.sub(r"<[^>]*>", "", typeset)))


# A raw tag a student may type in markdown and keep: simple formatting, links and images (attributes checked).
_RAW_KEEP = frozenset("b i em strong sub sup u s del ins mark small kbd code br hr a img".split())
_RAW_ATTRIBUTES = {"a": ("href", "title"), "img": ("src", "alt", "title", "width", "height")}
_RAW_TAG = re.compile(
    r"""<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(/?)>"""
)
_RAW_ATTRIBUTE = re.compile(r"""\s+([A-Za-z_:][-A-Za-z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
_FENCE = re.compile(r"^((?:[ \t]*>)*[ \t]*)(`{3,}|~{3,})(.*)$")
# nbconvert's math (filters/markdown_mistune.py), tried before code spans at the same place, as mistune does.
_MATH = re.compile(
    r"(?s:(?<!\\)\$\$.*?(?<!\\)\$\$)"
    r"|(?s:(?<!\\)\\\\\[.*?(?<!\\)\\\\\])"
    r"|(?s:(?<![$\\])\$.+?(?<![$\\])\$)"
    r"|(?s:(?<!\\)\\\\\(.*?(?<!\\)\\\\\))"
    r"|(?s:\\begin\{([a-z]*\*?)\}.*?\\end\{\1\})"
)
_INTERESTING = re.compile(r"[\\$`<\]]")
_LINK_OPEN = re.compile(r"\]\(([ \t]*\n?[ \t]*)")


def _link_destination(text: str, start: int) -> int:
    """Where a link destination starting at ``start`` ends, as CommonMark reads it: ``<...>``, or up to
    whitespace or an unbalanced ``)``, with backslash escapes and nested parentheses."""
    if text.startswith("<", start):
        end = text.find(">", start)
        newline = text.find("\n", start)
        return end + 1 if end >= 0 and (newline < 0 or end < newline) else start
    depth, i = 0, start
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            i += 2
            continue
        if char.isspace() or ord(char) < 32:
            break
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        i += 1
    return i
_REFERENCE = re.compile(r"^((?:[ \t]*>)*[ \t]{0,3}\[[^\]\n]+\]:[ \t]*\n?[ \t]*)(<[^<>\n]*>|\S+)", re.M)


def _raw_tag(match: re.Match, attachments: dict) -> str | None:
    """A kept tag rebuilt with its allowed, checked attributes only (double-quoted, escaped); None to escape it."""
    closing, name, attributes, _ = match.groups()
    tag = name.lower()
    if tag not in _RAW_KEEP:
        return None
    if closing:
        return f"</{tag}>"
    kept = []
    for m in _RAW_ATTRIBUTE.finditer(attributes):
        attribute = m.group(1).lower()
        value = next((v for v in m.group(2, 3, 4) if v is not None), "")
        if attribute not in _RAW_ATTRIBUTES.get(tag, ()):
            continue
        if attribute == "href" and not safe_link(value):
            value = REMOVED_URL
        if attribute == "src" and not (safe_image(value) or _is_attachment(value, attachments)):
            continue
        if attribute in ("width", "height") and not _SIZE.match(html.unescape(value)):
            continue
        kept.append(f' {attribute}="{html.escape(html.unescape(value), quote=True)}"')
    return f"<{tag}{''.join(kept)}>"


def _is_attachment(url: str, attachments: dict) -> bool:
    return url.startswith("attachment:") and url[len("attachment:") :] in attachments


def _safe_destination(url: str, image: bool, attachments: dict) -> bool:
    bare = url[1:-1] if url.startswith("<") and url.endswith(">") else url
    if _is_attachment(bare, attachments):
        return image
    return safe_image(bare) if image else safe_link(bare)


def _rewrite_inline(text: str, attachments: dict) -> str:
    """One stretch of markdown outside fenced code: raw tags escaped or rebuilt, unsafe link targets replaced, and
    MathJax's active commands disabled; code spans are left alone, math only has its active commands disabled."""
    out, position = [], 0
    while True:
        m = _INTERESTING.search(text, position)
        if not m:
            out.append(_neutralize_markdown_tex(text[position:]))
            break
        at = m.start()
        out.append(_neutralize_markdown_tex(text[position:at]))
        char = text[at]
        math = _MATH.match(text, at) if char in "$\\" else None
        if math:
            out.append(_neutralize_markdown_tex(math.group(0)))
            position = math.end()
        elif char == "\\":
            # A backslash escape: \< \` \$ \[ ... stay literal characters, as markdown reads them.
            out.append(text[at : at + 2])
            position = at + 2
        elif char == "`":
            run = re.match(r"`+", text[at:]).group(0)
            closing = re.compile(rf"(?<!`){run}(?!`)").search(text, at + len(run))
            if closing:
                out.append(text[at : closing.end()])
                position = closing.end()
            else:
                out.append(run)
                position = at + len(run)
        elif char == "<":
            tag = _RAW_TAG.match(text, at)
            rebuilt = _raw_tag(tag, attachments) if tag else None
            if rebuilt is not None:
                out.append(rebuilt)
                position = tag.end()
            elif re.match(r"<[A-Za-z/!?]", text[at : at + 2]):
                out.append("&lt;")  # shows as "<": the tag, comment or autolink is text now
                position = at + 1
            else:
                out.append("<")
                position = at + 1
        else:  # "]": a link's destination
            link = _LINK_OPEN.match(text, at)
            if link:
                end = _link_destination(text, link.end())
                url = text[link.end() : end]
                safe = _safe_destination(url, _is_image_link(text, at), attachments)
                out.append("](" + link.group(1) + (url if safe else REMOVED_URL))
                position = end
            else:
                out.append("]")
                position = at + 1
    return "".join(out)


def _is_image_link(text: str, close: int) -> bool:
    """Whether the ``]`` at ``close`` ends ``![alt`` (an image) rather than ``[text`` (a link)."""
    depth = 0
    for i in range(close - 1, max(-1, close - 10_000), -1):
        if text[i] == "]":
            depth += 1
        elif text[i] == "[":
            if depth == 0:
                return i > 0 and text[i - 1] == "!"
            depth -= 1
    return False


def _rewrite_markdown(source: str, attachments: dict) -> str:
    """Raw HTML shown as text, unsafe links replaced, mermaid blocks made plain code; code and math kept."""
    source = _REFERENCE.sub(lambda m: m.group(1) + (m.group(2) if _safe_destination(m.group(2), False, attachments) else REMOVED_URL), source)
    lines = source.split("\n")
    out, stretch, fence = [], [], None
    for line in lines:
        if fence is None:
            m = _FENCE.match(line)
            if m and not (m.group(2)[0] == "`" and "`" in m.group(3)):
                if stretch:
                    out.append(_rewrite_inline("\n".join(stretch), attachments))
                stretch = []
                info = m.group(3)
                if info.strip().lower().startswith("mermaid"):
                    info = "text"  # nbconvert writes a mermaid block's text into the page unescaped
                out.append(m.group(1) + m.group(2) + info)
                fence = m.group(2)
            else:
                stretch.append(line)
        else:
            out.append(line)
            closing = re.match(r"^(?:[ \t]*>)*[ \t]*(`{3,}|~{3,})[ \t]*$", line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence):
                fence = None
    if stretch:
        out.append(_rewrite_inline("\n".join(stretch), attachments))
    return "\n".join(out)


def _escape_everything(source: str) -> str:
    """Every ``&`` and ``<`` as text, links replaced, mermaid disabled: the second try for a cell."""
    escaped = source.replace("&", "&amp;").replace("<", "&lt;")
    lines = []
    for line in escaped.split("\n"):
        m = _FENCE.match(line)
        if m and m.group(3).strip().lower().startswith("mermaid"):
            line = m.group(1) + m.group(2) + "text"
        lines.append(line)
    return neutralize_tex(_rewrite_markdown("\n".join(lines), {}))


def _as_code_block(source: str) -> str:
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", source)), default=0))
    return f"{fence}\n{source}\n{fence}"


def _renders_safely(source: str, attachments: dict) -> bool:
    try:
        return rendered_markdown_is_safe(_render_markdown(source, attachments))
    except Exception:  # e.g. a reference to a missing attachment makes nbconvert raise: not renderable as it is
        return False


def sanitize_markdown(source: str, attachments: dict | None = None) -> tuple[str, str | None]:
    """(source, None) when the cell renders safely as it is, else (rewritten source, what was done)."""
    attachments = attachments or {}
    if _renders_safely(source, attachments):
        return source, None
    rewritten = _rewrite_markdown(source, attachments)
    if _renders_safely(rewritten, attachments):
        return rewritten, "raw HTML in this cell was made inert (tags shown as text, unsafe attributes and links removed)"
    escaped = _escape_everything(source)
    if _renders_safely(escaped, {}):
        return escaped, "this cell's HTML and character references are shown as text and unsafe links were removed"
    return _as_code_block(source), "this cell could not be shown safely as markdown: its text is shown as code"


# --- outputs ------------------------------------------------------------------------------------------------


def _text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return value if isinstance(value, str) else str(value)


def _cut(text: str, limit: int, what: str, notes: list) -> str:
    if len(text) <= limit:
        return text
    notes.append(f"{what} cut at {limit:,} of {len(text):,} characters")
    return text[:limit] + f"\n... {NOTE} cut here: {len(text) - limit:,} more characters not kept ...\n"


def _image_metadata(metadata, mimes) -> dict:
    kept = {}
    if not isinstance(metadata, dict):
        return kept
    for mime in mimes:
        values = metadata.get(mime)
        if not isinstance(values, dict):
            continue
        entry = {}
        for key in ("width", "height"):
            v = values.get(key)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 100_000:
                entry[key] = v
        if isinstance(values.get("unconfined"), bool):
            entry["unconfined"] = values["unconfined"]
        if isinstance(values.get("alt"), str):
            entry["alt"] = values["alt"][:_MAX_NAME_CHARS]
        if entry:
            kept[mime] = entry
    return kept


def _sanitize_bundle(output, notes: list, limits: dict) -> None:
    data = output.get("data")
    data = data if isinstance(data, dict) else {}
    new = {}
    for mime, value in data.items():
        if mime in IMAGE_MIMES:
            value = _text(value)
            if len(value) > limits["image"]:
                notes.append(f"removed an {mime} image of {len(value):,} characters (the bound is {limits['image']:,})")
            elif not _BASE64.match(value):
                notes.append(f"removed an {mime} output that is not base64 data")
            else:
                new[mime] = value
        elif mime == "text/plain":
            new[mime] = _cut(_text(value), limits["text"], "a text output", notes)
        elif mime == "text/latex":
            new[mime] = neutralize_tex(_cut(_text(value), limits["text"], "a LaTeX output", notes))
        elif mime == "application/json":
            size = len(json.dumps(value))
            if size > limits["text"]:
                notes.append(f"removed a JSON output of {size:,} characters (the bound is {limits['text']:,})")
            else:
                new[mime] = value
        elif mime in ("text/html", "text/markdown"):
            text = _cut(_text(value), limits["text"], f"a {mime} output", notes)
            if mime == "text/markdown":
                if "text/html" in data:
                    continue  # the HTML of the same output is kept instead
                try:
                    text = _render_markdown(text)
                except Exception:
                    text = "<pre>" + html.escape(text) + "</pre>"
            cleaned = clean_html(text)
            if cleaned != text and _ACTIVE_HTML.search(text):
                notes.append(f"script, frames or forms removed from a {mime} output")
            new["text/html"] = cleaned
        else:
            why = "it can carry script" if mime in ("image/svg+xml", "application/javascript") or "javascript" in mime else "not a type this course shows"
            instead = " (the PNG of the same output is shown)" if mime == "image/svg+xml" and "image/png" in data else ""
            notes.append(f"removed {mime[:100]} output: {why}{instead}")
    if not new and output.get("output_type") == "display_data":
        new["text/plain"] = f"{NOTE} output removed"
    output["data"] = from_dict(new)
    output["metadata"] = from_dict(_image_metadata(output.get("metadata"), [m for m in IMAGE_MIMES if m in new]))
    if output.get("output_type") == "execute_result":
        count = output.get("execution_count")
        output["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) else None


def _sanitize_error(output, notes: list, limits: dict) -> None:
    output["ename"] = _cut(_text(output.get("ename", "")), _MAX_NAME_CHARS, "an error's name", notes)
    output["evalue"] = _cut(_text(output.get("evalue", "")), limits["text"], "an error's message", notes)
    traceback = output.get("traceback")
    traceback = [_text(line) for line in traceback] if isinstance(traceback, list) else [_text(traceback)]
    if len(traceback) > _MAX_TRACEBACK_LINES:
        half = _MAX_TRACEBACK_LINES // 2
        notes.append(f"a traceback cut to {_MAX_TRACEBACK_LINES} of {len(traceback):,} lines")
        traceback = traceback[:half] + [f"{NOTE} ... {len(traceback) - 2 * half:,} lines not kept ..."] + traceback[-half:]
    kept, budget = [], limits["text"]
    for line in traceback:
        if len(line) > budget:
            kept.append(line[:budget] + f" ... {NOTE} cut ...")
            notes.append(f"a traceback cut at {limits['text']:,} characters")
            break
        kept.append(line)
        budget -= len(line)
    output["traceback"] = kept


def _sanitize_output(output, notes: list, limits: dict):
    kind = output.get("output_type")
    if kind == "stream":
        output["text"] = _cut(_text(output.get("text", "")), limits["text"], "a printed output", notes)
        if output.get("name") not in ("stdout", "stderr"):
            output["name"] = "stdout"
    elif kind in ("display_data", "execute_result"):
        _sanitize_bundle(output, notes, limits)
    elif kind == "error":
        _sanitize_error(output, notes, limits)
    else:
        notes.append(f"removed an output of unknown kind {str(kind)[:100]!r}")
        return None
    return output


def _output_size(output) -> int:
    kind = output.get("output_type")
    if kind == "stream":
        return len(output.get("text", ""))
    if kind == "error":
        return len(output.get("evalue", "")) + sum(len(line) for line in output.get("traceback", []))
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in output.get("data", {}).values())


def _shrink(output, max_notebook: int) -> None:
    """An output replaced by a short note, keeping its kind (so nbgrader scores the cell as before)."""
    kind = output.get("output_type")
    note = f"{NOTE} output removed: the notebook is above {max_notebook:,} characters"
    if kind == "stream":
        output["text"] = output["text"][:_SHRUNK_CHARS] + f"\n... {note} ...\n"
    elif kind == "error":
        output["evalue"] = output["evalue"][:_SHRUNK_CHARS]
        output["traceback"] = [line[:_SHRUNK_CHARS] for line in output["traceback"][:5]] + [note]
    elif kind == "display_data":
        output["data"] = from_dict({"text/plain": note})
    else:
        # An execute_result's text is nbgrader's partial credit: a score is short and stays whole, and one
        # without text stays without (nbgrader's own handling of it is unchanged).
        data = output["data"]
        plain = data.get("text/plain")
        output["data"] = from_dict({} if plain is None else {"text/plain": plain if len(plain) <= _SHRUNK_CHARS else plain[:_SHRUNK_CHARS] + "\n" + note})
        output["metadata"] = from_dict({})


def _attachments(cell, notes: list, limits: dict) -> dict:
    attachments = cell.get("attachments")
    if not isinstance(attachments, dict):
        if "attachments" in cell:
            del cell["attachments"]
        return {}
    kept = {}
    for name, bundle in attachments.items():
        bundle = bundle if isinstance(bundle, dict) else {}
        images = {}
        for mime, value in bundle.items():
            value = _text(value)
            if mime in IMAGE_MIMES and len(value) <= limits["image"] and _BASE64.match(value):
                images[mime] = value
            else:
                notes.append(f"attachment {str(name)[:100]!r}: removed {str(mime)[:100]} (only png, jpeg and gif images are kept)")
        if images and isinstance(name, str) and re.fullmatch(r"[^\s<>\"'`]{1,255}", name):
            kept[name] = images
    if kept:
        cell["attachments"] = from_dict(kept)
    elif "attachments" in cell:
        del cell["attachments"]
    return kept


def _sanitize_raw(cell, notes: list) -> None:
    """nbconvert inserts a raw cell's text into an HTML page when its format is HTML (or not given)."""
    metadata = cell.get("metadata", {})
    kind = str(metadata.get("raw_mimetype") or metadata.get("format") or "").lower()
    if kind in ("", "text/html", "html"):
        source = _text(cell.get("source", ""))
        cleaned = clean_html(source)
        if cleaned != source:
            notes.append("this raw cell's HTML was cleaned")
            cell["source"] = f"<p>{NOTE} this raw cell's HTML was cleaned</p>\n" + cleaned


def _note_markdown(source: str, notes: list) -> str:
    return f"> *{NOTE} {'; '.join(notes)}.*\n\n{source}"


def _sanitize_metadata(nb, notes: list) -> None:
    metadata = nb.get("metadata")
    if not isinstance(metadata, dict):
        return
    if "widgets" in metadata:
        del metadata["widgets"]
        notes.append("notebook: removed widget state (it can hold raw HTML and loads widget scripts in the page)")
    for key in ("title", "name"):
        if key in metadata:
            value = re.sub(r"[<>\"'&`]", "", _text(metadata[key]))[:_MAX_NAME_CHARS]
            if value != metadata[key]:
                metadata[key] = value
                notes.append(f"notebook: HTML characters removed from metadata.{key}")
    if "authors" in metadata:
        authors = metadata["authors"] if isinstance(metadata["authors"], list) else []
        clean = [{"name": re.sub(r"[<>\"'&`]", "", _text(a.get("name", "")))[:_MAX_NAME_CHARS]} for a in authors if isinstance(a, dict)]
        if clean != metadata["authors"]:
            metadata["authors"] = clean
            notes.append("notebook: metadata.authors reduced to plain names")


def _cell_size(cell) -> int:
    size = len(_text(cell.get("source", "")))
    size += sum(len(v) for bundle in cell.get("attachments", {}).values() for v in bundle.values())
    return size + sum(_output_size(o) for o in cell.get("outputs", []))


def sanitize_notebook(
    nb,
    max_text: int = MAX_TEXT_CHARS,
    max_image: int = MAX_IMAGE_CHARS,
    max_notebook: int = MAX_NOTEBOOK_CHARS,
) -> list[str]:
    """Make ``nb`` (an nbformat v4 notebook, changed in place) safe to render; return notes of what was removed
    or cut. A notebook with nothing to remove is left exactly as it was and gives no notes."""
    limits = {"text": max_text, "image": max_image}
    notes: list[str] = []
    _sanitize_metadata(nb, notes)
    for index, cell in enumerate(nb.get("cells", [])):
        cell_notes: list[str] = []
        kind = cell.get("cell_type")
        source = _text(cell.get("source", ""))
        attachments = _attachments(cell, cell_notes, limits) if kind in ("markdown", "raw") else {}
        if kind == "markdown":
            source = _cut(source, max_text, "this cell", cell_notes)
            source, done = sanitize_markdown(source, attachments)
            if done:
                cell_notes.append(done)
            if cell_notes:
                cell["source"] = _note_markdown(source, cell_notes)
        elif kind == "raw":
            if len(source) > max_text:
                cell["source"] = _cut(source, max_text, "this cell", cell_notes)
            _sanitize_raw(cell, cell_notes)
        elif kind == "code":
            if len(source) > max_text:
                cell["source"] = _cut(source, max_text, "this cell's code", cell_notes)
            count = cell.get("execution_count")
            if not (count is None or (isinstance(count, int) and not isinstance(count, bool))):
                cell["execution_count"] = None
            outputs = []
            for output in cell.get("outputs", []) or []:
                if isinstance(output, dict):
                    kept = _sanitize_output(output, cell_notes, limits)
                    if kept is not None:
                        outputs.append(kept)
            cell["outputs"] = outputs
            if cell_notes:
                _add_note_output(cell, cell_notes)
        notes.extend(f"cell {index}: {note}" for note in cell_notes)
    notes.extend(_bound_notebook(nb, max_notebook))
    return notes


def _add_note_output(cell, notes: list) -> None:
    from nbformat.v4 import new_output

    cell["outputs"].append(new_output("stream", name="stdout", text=f"{NOTE} {'; '.join(notes)}.\n"))


def _bound_notebook(nb, max_notebook: int) -> list[str]:
    cells = nb.get("cells", [])
    total = sum(_cell_size(c) for c in cells)
    if total <= max_notebook:
        return []
    notes = []
    outputs = sorted(
        ((_output_size(o), i, o) for i, c in enumerate(cells) if c.get("cell_type") == "code" for o in c.get("outputs", [])),
        key=lambda t: -t[0],
    )
    for size, index, output in outputs:
        if total <= max_notebook or size <= _SHRUNK_CHARS * 2:
            break
        _shrink(output, max_notebook)
        total -= size - _output_size(output)
        notes.append(f"cell {index}: an output of {size:,} characters removed (the notebook is above {max_notebook:,} characters)")
    for index, cell in sorted(enumerate(cells), key=lambda t: -_cell_size(t[1])):
        if total <= max_notebook:
            break
        source = _text(cell.get("source", ""))
        if len(source) > _SHRUNK_CHARS * 2:
            comment = "# " if cell.get("cell_type") == "code" else ""
            cell["source"] = source[:_SHRUNK_CHARS] + f"\n{comment}{NOTE} the rest of this cell is not kept: the notebook is above {max_notebook:,} characters\n"
            total -= len(source) - len(cell["source"])
            notes.append(f"cell {index}: source cut (the notebook is above {max_notebook:,} characters)")
    return notes


class SanitizeSubmission(Preprocessor):
    """nbgrader/nbconvert preprocessor: ``sanitize_notebook`` on the whole notebook; notes go to the log."""

    enabled = Bool(True, help="Whether to sanitize notebooks (on by default once listed)").tag(config=True)
    max_text_chars = Integer(MAX_TEXT_CHARS, help="Characters kept of each text output and cell").tag(config=True)
    max_image_chars = Integer(MAX_IMAGE_CHARS, help="Largest image kept (base64 characters)").tag(config=True)
    max_notebook_chars = Integer(MAX_NOTEBOOK_CHARS, help="Largest notebook kept (characters)").tag(config=True)

    def preprocess(self, nb, resources):
        # Once per export: nbgrader_config.py names it in GenerateFeedback's list and in HTMLExporter's, which
        # feedback's exporter also reads.
        if resources is not None and resources.get("nnfs_sanitizer_ran"):
            return nb, resources
        notes = sanitize_notebook(nb, self.max_text_chars, self.max_image_chars, self.max_notebook_chars)
        for note in notes:
            self.log.warning("sanitized: %s", note)
        if resources is not None:
            resources["nnfs_sanitizer_ran"] = True
            resources.setdefault("nnfs_sanitized", []).extend(notes)
        return nb, resources
