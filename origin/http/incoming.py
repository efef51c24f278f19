"""What an API's pipeline is handed of an HTTP request: its headers, and its JSON body's reader."""

from functools import partial

from starlette.requests import Request

from origin.chat.request import Incoming
from origin.http.body import read_json
from origin.http.headers import RequestHeaders


def incoming(request: Request, max_body_bytes: int) -> Incoming:
    """The body is read only when the pipeline asks (after authentication), within ``max_body_bytes``."""
    return Incoming(RequestHeaders.of(request), partial(read_json, request, max_body_bytes))
