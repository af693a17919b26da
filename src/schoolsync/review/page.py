"""The review page: one review served as a web page a person decides on (Starlette + Jinja2).

:func:`create_review_app` returns an ASGI app showing the seed's panels in order (Not matched,
New, May match, Matched) with a filter box, match and unmatch, tick all/none for import, the
app values the MIS will overwrite struck out and each pair's evidence. Save checks every
decision exactly as the workbook reader does (:func:`~schoolsync.review.decisions_from_rows`)
and hands the :class:`~schoolsync.review.ReviewDecisions` to the host's ``save`` callback.

The app has no authentication of its own: a host mounts it inside its own web app, behind its
own login (``Mount("/schools/{id}/review", app=create_review_app(...))``). ``schoolsync
review`` serves it on 127.0.0.1 behind a secret token in the URL instead. Every response
carries a strict Content-Security-Policy, ``Referrer-Policy: no-referrer`` (the URL may hold a
token) and ``Cache-Control: no-store`` (the page holds personal data); a Save must carry the
page's form token and come from the same origin.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

from schoolsync.errors import DecisionsError, FileFormatError, MissingExtraError
from schoolsync.matching import MatchReview, MatchStatus
from schoolsync.ports import TokenSource
from schoolsync.review._view import STATUS_HELP, ReviewLine, columns_for, review_lines
from schoolsync.review.decisions import (
    Choice,
    ReviewDecisions,
    RowEntry,
    decisions_from_rows,
)

try:
    import jinja2
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - the extra is installed in tests
    raise MissingExtraError("the review page", "review") from exc

__all__ = ["MAX_FORM_BYTES", "ReviewPage", "create_review_app"]

#: The largest Save the page accepts (a review of 20,000 lines posts well under this).
MAX_FORM_BYTES = 16 * 1024 * 1024
PAGE_SOURCE = "review page"
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
_PANEL_IDS = {
    MatchStatus.NOT_MATCHED: "not-matched",
    MatchStatus.NEW: "new",
    MatchStatus.MAY_MATCH: "may-match",
    MatchStatus.MATCHED: "matched",
}


@attrs.frozen
class _FormState:
    """What one line's controls show: its decision, its match-to id, its import tick."""

    decision: str = ""
    target: str = ""
    ticked: bool = False


def _form_states(lines: list[ReviewLine], decisions: ReviewDecisions) -> dict[int, _FormState]:
    """The controls' state that makes *decisions* again when saved (the page's prefill)."""
    rejected = {(d.mis_id, d.app_id) for d in decisions.decisions if d.choice is Choice.REJECT}
    matched = {d.mis_id: d.app_id for d in decisions.decisions if d.choice is Choice.MATCH}
    chosen = {d.mis_id: d.choice for d in decisions.decisions}
    accepted = {(d.mis_id, d.app_id) for d in decisions.decisions if d.choice is Choice.ACCEPT}
    out: dict[int, _FormState] = {}
    for ln in lines:
        if ln.status is MatchStatus.NEW:
            ticked = bool(ln.selected)
            if chosen.get(ln.mis_id) is Choice.IMPORT:
                ticked = True
            elif chosen.get(ln.mis_id) is Choice.DO_NOT_IMPORT:
                ticked = False
            out[ln.index] = _FormState(target=matched.get(ln.mis_id) or "", ticked=ticked)
        elif ln.result.is_pair:
            key = (ln.mis_id, ln.app_id)
            if key in rejected:
                target = matched.get(ln.mis_id) or ""
                label = "" if target else Choice.REJECT.label
                out[ln.index] = _FormState(decision=label, target=target)
            elif key in accepted or ln.result.confirmed:
                out[ln.index] = _FormState(decision=Choice.ACCEPT.label)
            else:
                out[ln.index] = _FormState()
        else:
            out[ln.index] = _FormState()
    return out


def _entries(lines: list[ReviewLine], form: Mapping[str, str]) -> list[RowEntry]:
    """The rows the form's controls make (the same grammar as the workbook's rows)."""
    entries = []
    for ln in lines:
        i = ln.index
        target = form.get(f"t{i}", "")
        if ln.status is MatchStatus.NEW:
            decision = Choice.IMPORT.label if form.get(f"i{i}") else Choice.DO_NOT_IMPORT.label
            if ln.locked:
                decision = Choice.IMPORT.label
        elif ln.result.is_pair:
            decision = form.get(f"d{i}", "")
        else:
            decision = ""
        entries.append(
            RowEntry(
                row=ln.row, mis_id=ln.mis_id, app_id=ln.app_id, decision=decision, match_to=target
            )
        )
    return entries


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("schoolsync.review", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _asset(name: str) -> bytes:
    return resources.files("schoolsync.review").joinpath("static", name).read_bytes()


class ReviewPage:
    """One review served as a page: the review, the decisions so far and where Save goes.

    Args:
        review: the review to decide on (it never changes; decisions are kept beside it).
        save: called with the checked decisions on every successful Save (write them to a
            file, a store...); an exception it raises is shown on the page as a failed save.
        decisions: decisions made earlier (the page starts from them).
        title: shown at the top of the page (e.g. the school and the files).
        tokens: where the form token comes from (default: the system's secure tokens).
    """

    def __init__(
        self,
        review: MatchReview[Any],
        *,
        save: Callable[[ReviewDecisions], object],
        decisions: ReviewDecisions | None = None,
        title: str = "",
        tokens: TokenSource | None = None,
    ) -> None:
        from schoolsync.ids import SYSTEM_TOKENS

        self.review = review
        self.lines = review_lines(review)
        self.save = save
        self.decisions = decisions or ReviewDecisions.empty(review)
        if self.decisions.decisions:
            self.decisions.apply(review)  # refuse, up front, decisions about another review
        self.title = title
        self.form_token = (tokens or SYSTEM_TOKENS).token_urlsafe(24)
        self._template = _environment().get_template("review.html")
        self._panels = self._panel_lines()

    def _panel_lines(self) -> list[tuple[MatchStatus, list[ReviewLine]]]:
        by: dict[MatchStatus, list[ReviewLine]] = {s: [] for s in MatchStatus}
        for ln in self.lines:
            by[ln.status].append(ln)
        return [(s, by[s]) for s in sorted(MatchStatus, key=lambda s: s.review_order)]

    def render(
        self,
        request: Request,
        *,
        states: Mapping[int, _FormState] | None = None,
        problems: list[FileFormatError] | None = None,
        saved: bool = False,
    ) -> str:
        """The page's HTML."""
        states = _form_states(self.lines, self.decisions) if states is None else states
        decided = self.decisions.apply(self.review) if self.decisions.decisions else self.review
        problem_rows: dict[int, list[str]] = {}
        for p in problems or ():
            if p.row is not None:
                problem_rows.setdefault(p.row, []).append(str(p.reason))
        return self._template.render(
            title=self.title,
            kind=self.review.kind.value.replace("_", " "),
            columns=[c.label for c in columns_for(self.review.kind)],
            panels=[
                {
                    "status": s,
                    "id": _PANEL_IDS[s],
                    "help": STATUS_HELP[s],
                    "lines": lines,
                }
                for s, lines in self._panels
            ],
            states=states,
            problems=problems or [],
            problem_rows=problem_rows,
            saved=saved,
            counts=self.decisions.counts(),
            decided_counts=decided.counts(),
            to_import=len(decided.to_import()),
            decisions_total=len(self.decisions),
            choice=Choice,
            status=MatchStatus,
            # The pick lists offer the unpaired records (a paired one needs its pair rejected
            # first); any id can still be typed. Short lists keep the page fast to open.
            mis_ids=[ln for ln in self.lines if ln.status is MatchStatus.NEW],
            app_ids=[ln for ln in self.lines if ln.status is MatchStatus.NOT_MATCHED],
            save_url=str(request.url_for("save")),
            script_url=str(request.url_for("script")),
            style_url=str(request.url_for("style")),
            form_token=self.form_token,
        )

    async def show(self, request: Request) -> Response:
        return _secure(HTMLResponse(self.render(request, saved="saved" in request.query_params)))

    async def receive_save(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
            return _secure(Response("cross-site save refused", status_code=403))
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_FORM_BYTES:
                return _secure(Response("the form is too large", status_code=413))
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            return _secure(Response("the form is not UTF-8", status_code=400))
        form = dict(pairs)
        if form.get("form_token") != self.form_token:
            return _secure(Response("the page is out of date; reload it", status_code=403))
        entries = _entries(self.lines, form)
        states = {
            ln.index: _FormState(
                decision=form.get(f"d{ln.index}", ""),
                target=form.get(f"t{ln.index}", ""),
                ticked=bool(form.get(f"i{ln.index}")) or ln.locked,
            )
            for ln in self.lines
        }
        try:
            decisions = decisions_from_rows(
                self.review, entries, source=PAGE_SOURCE, lines=self.lines
            )
        except DecisionsError as exc:
            found = [e for e in exc.exceptions if isinstance(e, FileFormatError)]
            html = self.render(request, states=states, problems=found)
            return _secure(HTMLResponse(html, status_code=422))
        self.save(decisions)
        self.decisions = decisions
        url = request.url_for("show").include_query_params(saved="1")
        return _secure(RedirectResponse(str(url), status_code=303))

    async def decisions_json(self, request: Request) -> Response:
        return _secure(JSONResponse(self.decisions.to_dict()))

    async def script(self, request: Request) -> Response:
        return _secure(Response(_asset("review.js"), media_type="text/javascript"))

    async def style(self, request: Request) -> Response:
        return _secure(Response(_asset("review.css"), media_type="text/css"))

    def app(self) -> Starlette:
        """The ASGI app (mount it anywhere; URLs follow the mount point)."""
        return Starlette(
            routes=[
                Route("/", self.show, name="show"),
                Route("/save", self.receive_save, methods=["POST"], name="save"),
                Route("/decisions.json", self.decisions_json, name="decisions"),
                Route("/review.js", self.script, name="script"),
                Route("/review.css", self.style, name="style"),
            ]
        )


def _secure(response: Response) -> Response:
    response.headers.update(_SECURITY_HEADERS)
    return response


def create_review_app(
    review: MatchReview[Any],
    *,
    save: Callable[[ReviewDecisions], object],
    decisions: ReviewDecisions | None = None,
    title: str = "",
) -> Starlette:
    """An ASGI app serving *review* as a page; each Save calls *save* with the decisions.

    Mount it in a host's own app behind its own authentication; see :class:`ReviewPage`.

    Raises:
        DecisionsError: *decisions* were made about another review.
    """
    return ReviewPage(review, save=save, decisions=decisions, title=title).app()
