"""User text shown as text: a name, a class code, a link's value or a folder path never becomes markdown.

Streamlit renders ``st.markdown``, ``st.caption``, ``st.warning`` and friends (and widget ``help=``) as
GitHub-flavoured markdown: a class-board name ``![p](https://evil.example/p.png)`` would make every viewer's
browser fetch that URL, ``[grades](https://evil.example)`` would be a live link inside the app's own words,
and a bare ``https://…`` is auto-linked. :func:`plain` backslash-escapes every character markdown (and
Streamlit's own ``:color[…]``/``:material/…:`` and ``$…$`` maths directives) could read, and the angle
brackets of HTML, so the text shows exactly as typed. Pages call it on every user- or URL-supplied piece
of text (and on exception messages, which quote such text) before it reaches a markdown element.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones that can
# start or end markup in GFM, Streamlit's directives (":", "[", "]") or its maths ("$"), an HTML entity
# ("&"), and the ones that break an autolink literal (":" in "https://", "." and "/" in "www.example.com/x",
# "@" in an e-mail address). Quotes and the like stay as they are: markdown never reads them.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&/@])")

# GFM's autolink literals ("https://…", "www.…", "a@b.c") are found in the text *after* escapes are read
# (remark-gfm rewrites text nodes), so escaping cannot stop them: a zero-width space after "://"'s colon,
# between "www" and ".", and after "@" does (the text reads the same; the e2e test checks the page).
ZWSP = "\u200b"
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?i:(?<=www)(?=\.))|(?<=@)")


def plain(text: object, limit: int | None = 2000) -> str:
    """``text`` (anything: ``str()`` of it) escaped for a markdown element, on one line, at most ``limit``
    characters before escaping (a longer text is cut and ends with "…"): shown literally, never as a
    link, image, heading, list, colour, icon or formula."""
    s = str(text)
    if limit is not None and len(s) > limit:
        s = s[:limit] + "…"
    s = " ".join(s.split())  # a newline could start a heading, list or code block in what follows
    s = _AUTOLINK.sub(ZWSP, s)
    return _SPECIAL.sub(r"\\\1", s)


__all__ = ["ZWSP", "plain"]
