"""Settings kept across pages within a session (Streamlit-free: it works on any mutable mapping, the pages pass
``st.session_state``).

Streamlit forgets a widget's value when a run does not draw the widget, so going Playground → Learn → back reset
T and the test image. Each page names the widget keys it owns; :func:`keep`, called at the top of the page,
copies their values to keys of its own (``keep:<page>:<key>``, which no widget owns, so nothing drops them) and
puts them back when the page is drawn again. The URL still carries a page's settings (:mod:`kdcore.views.links`):
:func:`wrote` remembers the query string the page last wrote, and :func:`keep` tells the page to read its link
when the URL asks for something else (a shared link, the lesson's "try it yourself" link), which then wins over
the kept values. "Something else" means a query string the page has not written in this session: two quick
slider moves send the second rerun with the URL of the run before the first one's (the browser had not yet got
the new one), and that URL, being the page's own, must not count as a link and undo the move.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping

_PREFIX = "keep:"
_WRITTEN = 16  # how many of a page's own query strings are remembered (a burst of reruns stays within it)


def _shadow(page: str, key: str) -> str:
    return f"{_PREFIX}{page}:{key}"


def _query(params: Mapping[str, object]) -> dict[str, str]:
    out = {}
    for k, v in params.items():
        if isinstance(v, (list, tuple)):
            v = v[-1] if v else ""
        out[str(k)] = str(v)
    return out


def keep(state: MutableMapping, page: str, keys: Iterable[str], params: Mapping[str, object] | None = None) -> bool:
    """Keep ``page``'s widget ``keys`` across pages: a key the session lost (the page was not drawn) gets its kept
    value back, a key it has is kept. Returns True when the page should read its link: the URL (``params``)
    carries settings other than those the page last wrote (:func:`wrote`), or the page was never drawn."""
    for key in keys:
        shadow = _shadow(page, key)
        if key in state:
            state[shadow] = state[key]
        elif shadow in state:
            state[key] = state[shadow]
    asked = _query(params or {})
    written = state.get(_shadow(page, "#urls"))
    if written is None:
        return True
    return bool(asked) and asked not in written


def wrote(state: MutableMapping, page: str, params: Mapping[str, str]) -> Mapping[str, str]:
    """Remember the query string ``page`` writes (returned, for ``st.query_params.from_dict``)."""
    query = _query(params)
    written = [q for q in state.get(_shadow(page, "#urls"), []) if q != query]
    state[_shadow(page, "#urls")] = [*written, query][-_WRITTEN:]
    return params


def ask(state: MutableMapping, page: str, key: str, value: object) -> None:
    """Open ``page``'s widget ``key`` on ``value`` the next time that page is drawn (another page asks: the own-images
    page opens the lab on the data set it just added)."""
    state[key] = value
    state[_shadow(page, key)] = value


__all__ = ["ask", "keep", "wrote"]
