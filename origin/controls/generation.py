"""A project's controls generation: which rules a cached answer was made under.

The origin stamps every answer it publishes to Workers KV with it, and every key grant with the
project's current one; the edge serves an answer only while the two agree. It digests everything
that decides whether a stored answer may still be served: the project's policy rules (its org's and
its own), its settings, and the gateway config's routing (``origin.config.config_digest``). Budgets
are left out: a cache hit costs nothing, and the origin does not refuse hits over budget either.
"""

import hashlib
import json
from dataclasses import asdict
from typing import Final

from origin.controls.policy import PolicyRule, ProjectControls

LENGTH: Final = 16  # hex digits: 64 bits, ample to tell one project's successive rules apart


def controls_generation(controls: ProjectControls, config_digest: str) -> str:
    rules = sorted(_rule_text(rule) for rule in controls.policies.rules)
    decisive = {"config": config_digest, "rules": rules, "settings": asdict(controls.settings)}
    canonical = json.dumps(decisive, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:LENGTH]


def _rule_text(rule: PolicyRule) -> str:
    # What the rule does, not its id or its scope's name: the same rule re-added is the same rules.
    meaning = [rule.scope, rule.effect, rule.target, rule.pattern, rule.max_tokens]
    return json.dumps(meaning, separators=(",", ":"))
