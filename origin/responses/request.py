"""A Responses request as the pipeline holds it: the client's body, its stored history, the chat view."""

from dataclasses import dataclass

from origin.chat.request import ChatRequest
from origin.providers.base import JSON
from origin.responses.output import new_id, shell
from origin.stores.postgres import KeyRecord


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    body: JSON  # as the client sent it
    history: list[JSON]  # the stored items of its previous_response_id chain, oldest first
    chat: ChatRequest  # the whole conversation read as a chat body, for the controls
    key: KeyRecord

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def shell(self, model: str) -> JSON:
        """A new response object for ``model``'s answer, before any output."""
        return shell(self.body, response_id=new_id("resp"), model=model)
