"""A Responses request as an upstream that serves the Responses API itself is sent it.

Prism keeps the conversation: ``previous_response_id`` names a response in Prism's store, which the
upstream never saw. So the upstream is sent the chain's items then this request's input, asked to
store nothing (``store: false``). A reasoning item goes back only with its ``encrypted_content``
(without it, the item is an id in the upstream's store, which holds nothing); items of hosted tools
are the upstream's record of its own work and are not sent again.
"""

from typing import Final

from origin.providers.base import JSON
from origin.responses.to_chat import input_items

RESENT: Final = frozenset({"message", "function_call", "function_call_output"})
PRISM_ONLY: Final = ("previous_response_id", "store", "stream")


def _resent(item: JSON) -> bool:
    kind = item.get("type")
    return kind in RESENT or (kind == "reasoning" and bool(item.get("encrypted_content")))


def native_body(body: JSON, history: list[JSON], *, stream: bool) -> JSON:
    """The upstream's body for the validated ``body``, continuing the stored ``history``."""
    native = {name: value for name, value in body.items() if name not in PRISM_ONLY}
    native["input"] = [item for item in [*history, *input_items(body)] if _resent(item)]
    native["store"] = False
    if stream:
        native["stream"] = True
    return native
