"""The switchboard's admin API (``GET /status``, ``POST /swap``, loopback only, behind a token) and its client."""

from __future__ import annotations

import asyncio
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from analytics.core.errors import CRMError, InvalidInput, NotAllowed, NotFound
from analytics.core.files import installation_secret
from analytics.core.settings import Settings
from bot.ops.swap import BlueGreen, SwapFailed

#: ``ref -> file``: the registered, unchanged model file a swap request names (a registry name or a path);
#: raises :class:`~analytics.core.errors.NotFound` or another :class:`~analytics.core.errors.CRMError` to refuse.
ModelResolver = Callable[[str], Path]
#: The ``Host`` headers the admin API answers: loopback names only, so a web page whose name an attacker
#: points at 127.0.0.1 (DNS rebinding) is refused although its requests reach the port.
_LOOPBACK_HOST = re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\])(?::[0-9]{1,5})?")
MIN_ADMIN_TOKEN_BYTES = 32
MAX_SWAP_BODY = 16_384
PUBLISH_HINT = "models go live through the registry: `crm nlu publish <name or file>` registers, gates and swaps it"


def loopback_host(host: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback interface (with an optional port).

    Examples
    --------
    >>> [loopback_host(h) for h in ("127.0.0.1:5006", "localhost", "[::1]:5006", "evil.example:5006", "")]
    [True, True, True, False, False]
    """
    return _LOOPBACK_HOST.fullmatch(host.strip().lower()) is not None


def _bearer(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return request.headers.get("x-ops-token", "")


def admin_app(bluegreen: BlueGreen, *, token: str, resolve_model: ModelResolver) -> Starlette:
    """Loopback-only control of the switchboard: ``GET /status``, ``POST /swap {"model": name or path}``.

    Every request must name a loopback host (``Host: 127.0.0.1:<port>``,
    ``localhost``, ``[::1]``; else 421) and carry the token
    (``Authorization: Bearer <token>``, or ``X-Ops-Token``; else 401).
    ``POST /swap`` wants ``Content-Type: application/json`` (else 415: a web page
    can only send that to another site after a CORS preflight, which this app
    never allows) and a JSON object (else 400). Only a model of the registry
    whose file still has its registered hash is loaded (``resolve_model``; else
    404 or 409): model files hold pickles, so nothing else on the disk is
    ever loaded.

    Raises
    ------
    InvalidInput
        ``token`` is shorter than 32 bytes: the admin API is never open.
    """
    if len(token.encode()) < MIN_ADMIN_TOKEN_BYTES:
        raise InvalidInput(
            f"the admin API needs a token of at least {MIN_ADMIN_TOKEN_BYTES} bytes (CRM_OPS_TOKEN or "
            "<var>/admin-token, bot.ops.admin.admin_token)."
        )
    expected = token.encode()

    def refusal(request: Request) -> Optional[JSONResponse]:
        if not loopback_host(request.headers.get("host", "")):
            return JSONResponse(
                {"error": "the admin API answers only requests addressed to 127.0.0.1, localhost or [::1]"},
                status_code=421,
            )
        if not hmac.compare_digest(_bearer(request).encode(), expected):
            return JSONResponse(
                {"error": "bad or missing token: send `Authorization: Bearer <token>` (the token is in "
                          "<var>/admin-token, or CRM_OPS_TOKEN)"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )  # fmt: skip
        return None

    def bad(status_code: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status_code)

    async def status(request: Request) -> JSONResponse:
        return refusal(request) or JSONResponse(bluegreen.status())

    async def swap(request: Request) -> JSONResponse:
        refused = refusal(request)
        if refused is not None:
            return refused
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "application/json":
            return bad(415, 'POST /swap wants `Content-Type: application/json` and a body {"model": name or path}')
        body = await request.body()
        if len(body) > MAX_SWAP_BODY:
            return bad(413, f"the body is over {MAX_SWAP_BODY} bytes")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return bad(400, 'the body is not JSON; send {"model": name or path, "wait_drain": true}')
        if not isinstance(data, dict):
            return bad(400, 'the body must be a JSON object: {"model": name or path, "wait_drain": true}')
        ref, wait_drain = data.get("model"), data.get("wait_drain", True)
        if not isinstance(ref, str) or not ref.strip() or "\x00" in ref:
            return bad(400, '"model" must name a registered model (its name or its file)')
        if not isinstance(wait_drain, bool):
            return bad(400, '"wait_drain" must be true or false')
        try:  # reads the store and hashes the file: off the event loop that serves customers
            model = await asyncio.to_thread(resolve_model, ref)
        except NotFound as exc:
            return bad(404, f"{exc} Nothing was loaded; {PUBLISH_HINT}.")
        except CRMError as exc:
            return bad(409, f"{exc} Nothing was loaded; {PUBLISH_HINT}.")
        try:
            report = await bluegreen.swap(model, wait_drain=wait_drain)
        except NotAllowed as exc:
            return bad(409, str(exc))
        except SwapFailed as exc:
            return bad(500, str(exc))
        return JSONResponse(report.as_dict())

    return Starlette(routes=[Route("/status", status), Route("/swap", swap, methods=["POST"])])


def admin_token(settings: Settings) -> str:
    """The token of the switchboard's admin API: ``CRM_OPS_TOKEN``, else ``<var>/admin-token`` (created once).

    Raises
    ------
    InvalidInput
        The configured token, or the file, holds fewer than 32 bytes.
    """
    return installation_secret(settings, "admin-token", settings.ops.admin_token)


@dataclass(frozen=True)
class SwitchClient:
    """How ``crm nlu publish`` and ``rollback`` reach a running switchboard.

    ``token`` is the admin API's (:func:`admin_token`), sent as ``Authorization: Bearer``.
    """

    admin_url: str
    token: str

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _error(self, answer: httpx.Response) -> str:
        try:
            message = str(answer.json().get("error") or answer.text)
        except ValueError:
            message = answer.text or str(answer.status_code)
        if answer.status_code == 401:
            message += "; `crm nlu serve` and this command must share CRM_OPS_TOKEN or the same <var>/admin-token"
        return message

    def status(self) -> Optional[dict[str, Any]]:
        """The switchboard's status, or ``None`` when none is running."""
        try:
            answer = httpx.get(f"{self.admin_url}/status", headers=self._headers(), timeout=5.0)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            raise SwapFailed(
                f"the switchboard at {self.admin_url} answered {answer.status_code}: {self._error(answer)}"
            )
        data: dict[str, Any] = answer.json()
        return data

    def swap(self, model: Path, timeout: float = 900.0) -> dict[str, Any]:
        """Swap to ``model``, a registered model's file (the switchboard refuses any other)."""
        try:
            answer = httpx.post(
                f"{self.admin_url}/swap",
                json={"model": str(model.resolve()), "wait_drain": True},
                headers=self._headers(),
                timeout=timeout,
            )
        except httpx.HTTPError as exc:
            raise SwapFailed(f"the switchboard at {self.admin_url} did not answer: {exc}") from exc
        if answer.status_code in (404, 409):
            raise NotAllowed(self._error(answer))
        if answer.status_code != 200:
            raise SwapFailed(self._error(answer))
        data: dict[str, Any] = answer.json()
        return data
