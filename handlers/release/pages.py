"""The approval pages: plain, accessible HTML that works without JavaScript or external assets."""

from __future__ import annotations

import datetime as dt
from html import escape

from .approval import ApprovalRecord, ApprovalSummary, Decision

# No script, no external resource; the form may post only to this same page; no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the approval id is in the URL: never send it onwards
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}

_STYLE = ("body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
          "dt{font-weight:600}dd{margin:0 0 .5rem 0}label{display:block;font-weight:600;margin-top:1rem}"
          "input,textarea{width:100%;font:inherit;padding:.4rem}button{font:inherit;padding:.5rem 1.2rem;"
          "margin:1rem .5rem 0 0}.error{border:2px solid #b00020;padding:.5rem}")


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>")


def _when(epoch: int) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _summary(summary: ApprovalSummary) -> str:
    rows = [
        ("Load balancer", summary["loadBalancer"]),
        (f"Now live ({summary['liveService']})", ", ".join(summary["liveImages"])),
        (f"To go live ({summary['greenService']})", ", ".join(summary["newImages"])),
    ]
    if summary["description"]:
        rows.append(("Description", summary["description"]))
    rows.append(("Health", "; ".join(summary["health"]) or "not checked"))
    rows.append(("Decide before", _when(summary["expiresAt"])))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    test = escape(summary["testUrl"])
    return f'<dl>{items}</dl><p>Try the new version first: <a href="{test}">{test}</a></p>'


def confirmation(summary: ApprovalSummary, error: str = "", name: str = "", reason: str = "") -> str:
    verb = "roll-back" if summary["action"] == "rollback" else "release"
    alert = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    form = (
        f'{alert}<form method="post">'
        f'<label for="name">Your name</label>'
        f'<input id="name" name="name" required maxlength="100" autocomplete="name" value="{escape(name)}">'
        f'<label for="reason">Reason (required to reject)</label>'
        f'<textarea id="reason" name="reason" rows="3" maxlength="1000">{escape(reason)}</textarea>'
        f'<button type="submit" name="decision" value="approve">Approve {verb}</button>'
        f'<button type="submit" name="decision" value="reject">Reject {verb}</button>'
        f"</form>")
    return _page(f"Approve this {verb}?", _summary(summary) + form)


def decided(decision: Decision, summary: ApprovalSummary) -> str:
    if decision.approved:
        body = (f"<p>Approved by {escape(decision.who)} at {_when(decision.at)}. "
                f"Production traffic moves to {escape(', '.join(summary['newImages']))} once the engine has "
                f"re-checked the load balancer. The operators will be notified of the outcome.</p>")
        return _page("Approved", body)
    body = (f"<p>Rejected by {escape(decision.who)} at {_when(decision.at)}: {escape(decision.reason)}. "
            "Production is unchanged.</p>")
    return _page("Rejected", body)


def already_decided(record: ApprovalRecord) -> str:
    d = record.decision
    what = "approved" if d and d.approved else "rejected"
    who = f" by {escape(d.who)} at {_when(d.at)}" if d else ""
    return _page("Already decided", f"<p>This request was already {what}{who}. This link cannot be used again; "
                                    "nothing was changed.</p>")


def expired() -> str:
    return _page("Link expired", "<p>This approval request has expired: the release stopped waiting and "
                                 "production was left as it was. Nothing was changed. Start a new release to "
                                 "try again.</p>")


def unknown() -> str:
    return _page("Link not valid", "<p>This approval link is not valid: it may be mistyped, cut short by your "
                                   "mail program, or from a release that no longer exists. Nothing was changed. "
                                   "Open the link from the latest message, or ask the release owner.</p>")


def no_longer_pending() -> str:
    return _page("Release no longer waiting", "<p>The release stopped waiting for a decision (it timed out, "
                                              "finished or was stopped) before yours arrived. Nothing was "
                                              "changed. To release this version, start a new release.</p>")


def not_delivered(code: str, expires_at: int) -> str:
    return _page("Decision not delivered", (
        f"<p>Your decision could not be delivered: AWS Step Functions refused it ({escape(code)}). Nothing was "
        "changed, and this link works again.</p><p>Tell the people who run the release system: the cause is "
        "theirs to fix, and the approval function's log names it. Once it is fixed, open this link again and "
        f"submit your decision before {_when(expires_at)}.</p>"))


def try_again() -> str:
    return _page("Please try again", "<p>Your decision could not be delivered because AWS did not answer. "
                                     "Nothing was changed and the link still works: go back and submit it again "
                                     "in a minute.</p>")
