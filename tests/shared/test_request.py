from shared.directive import parse_cache_control, parse_cache_ttl
from shared.memory import parse_memory
from shared.mode import parse_mode
from shared.prefer import parse_model_prefer
from shared.request import PrismHeaders, parse_request_headers
from shared.semantic import parse_semantic
from shared.session import parse_session
from shared.tags import parse_tags


def test_every_parser_reads_an_absent_header_as_the_default_it_is_skipped_for() -> None:
    # parse_request_headers takes an absent header's default without calling its parser.
    defaults = PrismHeaders()
    assert parse_session(None) == defaults.session_id
    assert parse_mode(None) == defaults.mode
    assert parse_model_prefer(None) == defaults.model_prefer
    assert parse_memory(None) == defaults.memory
    assert parse_cache_ttl(None) == defaults.cache.ttl_seconds
    assert parse_semantic(None) == defaults.semantic
    assert parse_cache_control(None) == (defaults.cache.no_store, defaults.cache.no_cache)
    assert parse_tags(None) == defaults.tags
    assert parse_request_headers({}) == defaults
