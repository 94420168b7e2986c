"""An HTTP probe through the test listener: the same path users will take once green is live."""

from __future__ import annotations

import urllib.error
import urllib.request

from .. import observed


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer to report, not something to follow


_OPENER = urllib.request.build_opener(_NoRedirect)


def probe(url: str, timeout_seconds: int) -> observed.ProbeResult:
    status, _, error = fetch(url, timeout_seconds, limit=0, agent="health")
    return observed.ProbeResult(url, status, error or None)


def fetch(url: str, timeout_seconds: int, limit: int = 65536, agent: str = "smoke-test") -> tuple[int | None, str, str]:
    """GET `url`: (status or None, the body's first `limit` bytes as text, what went wrong)."""
    if not url.startswith(("http://", "https://")):
        return None, "", "only http:// and https:// URLs are requested"
    request = urllib.request.Request(url, method="GET",  # noqa: S310 - scheme checked above
                                     headers={"User-Agent": f"ecs-bluegreen-release/{agent}"})
    try:
        with _OPENER.open(request, timeout=timeout_seconds) as response:
            return response.status, response.read(limit).decode("utf-8", "replace"), ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(limit).decode("utf-8", "replace"), ""
    except (urllib.error.URLError, OSError) as exc:
        return None, "", str(getattr(exc, "reason", exc))[:200]
