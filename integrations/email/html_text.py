"""HTML → plain text for e-mail bodies, on the stdlib ``html.parser`` only.

Written for mail, not for web pages:

* ``<blockquote>`` content comes out as ``> `` quoted lines, so the reply extractor can drop quoted
  history of HTML-only mails the same way it does for text parts;
* ``<script>``, ``<style>``, ``<head>`` and friends are skipped; ``<br>`` and block elements break lines;
  paragraphs and headings are separated by one blank line; whitespace is collapsed outside ``<pre>``;
* list items get a ``- `` bullet, table cells are separated by a space.

The converter never raises on malformed markup (``html.parser`` is forgiving and we close nothing
we did not open) and runs in linear time.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]

# Elements whose content is never visible text.
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml", "object", "svg"})
# Elements that end the current line.
_BLOCK = frozenset(
    {
        "address",
        "article",
        "aside",
        "center",
        "dd",
        "details",
        "dir",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "li",
        "main",
        "menu",
        "nav",
        "ol",
        "section",
        "summary",
        "table",
        "tbody",
        "tfoot",
        "thead",
        "tr",
        "ul",
        "caption",
    }
)
# Elements that are separated from their neighbours by one blank line.
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote"})
_CELL = frozenset({"td", "th"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "wbr"}
)

_WS = re.compile(r"[ \t\n\r\f\v\u00a0\u200b\ufeff]+")
_MANY_BLANK_LINES = re.compile(r"\n{3,}")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.current_depth = 0  # quote depth the current line was started at
        self.skip_stack: list[str] = []
        self.pre = 0
        self.quote = 0
        self.want_blank = False

    # -- line handling -------------------------------------------------------------------------
    def _prefix(self, depth: int) -> str:
        return "> " * depth

    def _flush(self) -> None:
        if not self.current:
            return
        line = "".join(self.current)
        self.current = []
        if not self.pre:
            line = line.strip(" ")
        if line or self.pre:
            self.lines.append((self._prefix(self.current_depth) + line).rstrip())

    def _newline(self, *, blank: bool = False) -> None:
        self._flush()
        if blank:
            self.want_blank = True

    def _emit(self, text: str) -> None:
        if not text:
            return
        if not self.current:
            if self.want_blank and self.lines and self.lines[-1].strip("> ") != "":
                self.lines.append(self._prefix(min(self.quote, self.current_depth)).rstrip())
            self.want_blank = False
            self.current_depth = self.quote
        self.current.append(text)

    # -- parser callbacks ----------------------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip_stack:
            if tag == self.skip_stack[-1]:
                self.skip_stack.append(tag)
            return
        if tag in _SKIP:
            self.skip_stack.append(tag)
            return
        if tag == "br":
            if not self.current:
                # an empty line made by <br> (e.g. "<br><br>") is a blank line
                self._emit("\u0000")
            self._flush()
        elif tag == "hr":
            self._newline()
            self._emit("----------")
            self._newline()
        elif tag in _PARAGRAPH:
            self._newline(blank=True)
            if tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1
        elif tag in _BLOCK:
            self._newline()
            if tag == "li":
                self._emit("- ")
        elif tag in _CELL and self.current:
            self._emit(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip_stack:
            if tag == self.skip_stack[-1]:
                self.skip_stack.pop()
            elif tag in _SKIP and tag in self.skip_stack:
                # unbalanced markup: close everything opened after it
                while self.skip_stack and self.skip_stack.pop() != tag:
                    pass
            return
        if tag in _PARAGRAPH:
            self._newline(blank=True)
            if tag == "blockquote" and self.quote:
                self.quote -= 1
            elif tag == "pre" and self.pre:
                self.pre -= 1
        elif tag in _BLOCK:
            self._newline()

    def handle_data(self, data: str) -> None:
        if self.skip_stack or not data:
            return
        if self.pre:
            parts = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
            for i, part in enumerate(parts):
                if i:
                    if not self.current:
                        self._emit("\u0000")
                    self._flush()
                self._emit(part.replace("\u00a0", " "))
            return
        text = _WS.sub(" ", data)
        if text == " ":
            if self.current and not self.current[-1].endswith(" "):
                self.current.append(" ")
            return
        if not self.current or self.current[-1].endswith(" "):
            text = text.lstrip(" ")
        self._emit(text)

    def result(self) -> str:
        self._flush()
        text = "\n".join(self.lines).replace("\u0000", "")
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        return _MANY_BLANK_LINES.sub("\n\n", text).strip("\n")


def html_to_text(html: str) -> str:
    """Render e-mail HTML as readable plain text (see module docstring). Never raises."""
    if not html:
        return ""
    parser = _Converter()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; markup must never break ingestion
        pass
    return parser.result().strip()
