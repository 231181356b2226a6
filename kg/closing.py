"""One ``with`` protocol for everything provml opens: entering gives the object, leaving closes it.

>>> class Thing(Closing):
...     closed = False
...     def close(self) -> None:
...         self.closed = True
>>> with Thing() as t:
...     pass
>>> t.closed
True
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["Closing"]


class Closing:
    """Mixin: ``with obj:`` returns ``obj`` and calls ``obj.close()`` on the way out."""

    __slots__ = ()

    def close(self) -> object:  # (some say whether all went well: Client.close)
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
