"""SPARQL and Turtle text split into tokens by one regular expression, in linear time: the
scans that run before a parser (:mod:`provml.endpoint.limits`) and the rewrite of an update's
dataset (:mod:`provml.store.update_dataset`).

A tokenizer's pattern holds ``{long}`` where the long-string forms (``'''…'''``,
``\"\"\"…\"\"\"``) go, a group named ``bad`` for a quote that opens no string, and a group for
strings. Two things kept it from linear time (regex audit, 18th session; an 80 KB query took
13 s, 1 MB would take half an hour):

- a quote that opened no string was read on to its line's end, and then the next one: such a
  ``bad`` quote is passed over as one character, as before (a tokenizer cannot always tell: in
  ``?a<'x>'`` the ``<`` reads as an IRI's start, and Oxigraph takes it as less-than), but past
  :data:`MAX_LONE_QUOTES` of them the text is refused (each one costs a read to its line's end);
- a ``'''`` with no end was read on to the text's end, and then each later one: once one has no
  end, no later one has either (the failed scan read each later quote as part of it), so the
  long form of that quote is dropped from the pattern from there on.

>>> lexer = Lexer(r"(?P<str>{long}'[^'\\n]*+')|(?P<bad>')|(?P<other>[^'\\s]+)", "str")
>>> [m.group() for m in lexer.tokens("a '''b''' 'c'", ValueError)]
['a', "'''b'''", "'c'"]
>>> [m.lastgroup for m in lexer.tokens("a 'b", ValueError)]
['other', 'bad', 'other']
>>> list(lexer.tokens("'a\\n" * 20, ValueError))
Traceback (most recent call last):
ValueError: the text has more than 16 quotes that open no string (the last at character 48); close its strings
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

__all__ = ["MAX_LONE_QUOTES", "Lexer"]

#: how many quotes that open no string a text may have
MAX_LONE_QUOTES = 16

#: the long strings, single- and double-quoted: possessive (a backtracking point a character
#: took a 5 MB literal to 650 MB)
LONG_STRINGS = (r"'''(?:[^'\\]|\\.|'(?!''))*+'''", r'"""(?:[^"\\]|\\.|"(?!""))*+"""')


class Lexer:
    """One tokenizer: ``template`` (a verbose pattern, ``{long}`` where the long strings go,
    ``{name}`` where ``parts[name]`` goes, every other brace doubled) and the name of its
    strings' group."""

    def __init__(self, template: str, string_group: str, **parts: str) -> None:
        self.template = template
        self.parts = parts
        self.string_group = string_group
        self._patterns: dict[tuple[bool, bool], re.Pattern[str]] = {}
        self.pattern = self._pattern(True, True)

    def _pattern(self, long_single: bool, long_double: bool) -> re.Pattern[str]:
        key = (long_single, long_double)
        if key not in self._patterns:
            long = "".join(f"{s}|" for s, on in zip(LONG_STRINGS, key, strict=True) if on)
            self._patterns[key] = re.compile(self.template.format(long=long, **self.parts),
                                             re.VERBOSE | re.DOTALL)
        return self._patterns[key]

    def tokens(self, text: str, refuse: Callable[[str], Exception]) -> Iterator[re.Match[str]]:
        """The tokens of ``text``, as ``self.pattern.finditer`` gives them, in linear time.

        :raises Exception: ``refuse(message)`` past :data:`MAX_LONE_QUOTES` quotes that open
            no string (each of them a ``bad`` token).
        """
        long_single = long_double = True
        pos = lone = 0
        while True:
            for match in self._pattern(long_single, long_double).finditer(text, pos):
                if match.lastgroup == "bad":
                    lone += 1
                    if lone > MAX_LONE_QUOTES:
                        raise refuse(f"the text has more than {MAX_LONE_QUOTES} quotes that open "
                                     f"no string (the last at character {match.start():,}); "
                                     "close its strings")
                yield match
                if match.lastgroup == self.string_group and match.end() - match.start() == 2:
                    quote = text[match.start()]
                    if text.startswith(quote, match.end()) and (
                            long_single if quote == "'" else long_double):
                        # ''' (or """) was no long string: it has no end, nor has a later one
                        long_single = long_single and quote != "'"
                        long_double = long_double and quote != '"'
                        pos = match.end()
                        break
            else:
                return
