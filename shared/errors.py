"""Errors raised by the shared parsers."""


class InvalidHeader(ValueError):
    """A request header that must not be silently dropped is malformed.

    ``code`` is the OpenAI-style error code both tiers answer with (status 400).
    """

    def __init__(self, header: str, message: str, code: str) -> None:
        super().__init__(message)
        self.header = header
        self.code = code
