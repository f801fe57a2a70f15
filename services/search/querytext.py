"""Query text → words, synonym expansion and typo corrections → a PostgreSQL tsquery string.

Words are runs of letters and digits, maybe joined by hyphens (lower-cased), so the tsquery
text built here can never carry tsquery syntax from the user. A query is an AND of positions;
a position is an OR of alternatives (the word itself, its synonyms, its corrections); an
alternative of several words ("t shirt") is a phrase (`<->`). `to_tsquery('english', ...)`
then stems each word.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

_WORD = re.compile(r"[^\W_]+(?:-[^\W_]+)*")  # "t-shirt" stays one word, as in to_tsvector
MAX_PHRASE = 3

Phrase = tuple[str, ...]
Position = list[Phrase]  # alternatives, the query's own words first


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def normalise(text: str) -> str:
    return " ".join(words(text))


def synonym_index(groups: Iterable[Sequence[str]]) -> dict[Phrase, list[Phrase]]:
    """Each term's phrase → every phrase of its groups (a term may be in several groups)."""
    index: dict[Phrase, list[Phrase]] = {}
    for group in groups:
        phrases = [p for p in (tuple(words(t)) for t in group) if p]
        for phrase in phrases:
            known = index.setdefault(phrase, [phrase])
            known.extend(p for p in phrases if p not in known)
    return index


def expand(text: str, synonyms: Mapping[Phrase, list[Phrase]]) -> list[Position]:
    """Split into positions, longest synonym phrase first (up to three words)."""
    ws = words(text)
    positions: list[Position] = []
    i = 0
    while i < len(ws):
        for n in range(min(MAX_PHRASE, len(ws) - i), 0, -1):
            phrase = tuple(ws[i : i + n])
            if phrase in synonyms or n == 1:
                alternatives = synonyms.get(phrase, [phrase])
                positions.append([phrase, *(a for a in alternatives if a != phrase)])
                i += n
                break
    return positions


def with_corrections(positions: list[Position], corrections: Mapping[str, str]) -> list[Position]:
    """Add each corrected single word as an alternative of its position."""
    out: list[Position] = []
    for position in positions:
        extra = [
            (corrections[p[0]],)
            for p in position
            if len(p) == 1 and p[0] in corrections and (corrections[p[0]],) not in position
        ]
        out.append([*position, *extra])
    return out


def single_words(positions: list[Position]) -> list[str]:
    return list(dict.fromkeys(p[0] for pos in positions for p in pos if len(p) == 1))


def tsquery_text(positions: list[Position], *, any_position: bool = False) -> str:
    """Every position must match (AND), or with `any_position` at least one (OR; ts_rank
    then puts products matching more positions first)."""
    parts = []
    for position in positions:
        alternatives = [" <-> ".join(p) for p in position]
        parts.append(alternatives[0] if len(alternatives) == 1 else f"({' | '.join(alternatives)})")
    return (" | " if any_position else " & ").join(parts)
