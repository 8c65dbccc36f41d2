"""Error messages about bad input: one line, naming the key and the value, with long values cut."""
import difflib
import reprlib
from typing import Any, Iterable


class ConfigError(ValueError):
    """A bad config key or value; the message is one line naming both."""


class NotFinite(ArithmeticError):
    """A global model, a test metric or a result that is not finite (the training diverged, e.g. a huge learning
    rate): nothing carries NaN or Infinity into the run's files. A strategy's diverged training is
    :class:`Diverged` (a recorded outcome: the run goes on); any other NotFinite stops the run with one line."""


class Diverged(NotFinite):
    """Strategy ``strategy``'s training diverged in round ``round`` (0-based, as rounds.csv's ``round``): its
    aggregated global model, or that model's test loss, is not finite; ``reason`` says which, with the step sizes
    in play. The run records the round (``StrategyState.diverged_round``), writes no row for it and goes on with
    the other strategies (:func:`syft_fl.experiment.run`)."""

    def __init__(self, strategy: str, round: int, reason: str) -> None:  # noqa: A002 - rounds.csv's name
        self.strategy, self.round, self.reason = strategy, round, reason
        super().__init__(f"strategy {strategy!r}, round {round}: {reason}: the training diverged")

    def __reduce__(self) -> Any:  # pickled by its fields (a Ray task's exception crosses processes)
        return type(self), (self.strategy, self.round, self.reason)

    def notice(self) -> str:
        """The one line a run prints when it happens (without the program's name)."""
        rows = f"its rows end at round {self.round - 1}" if self.round > 0 else "it has no rows"
        return (f"strategy {self.strategy!r} diverged in round {self.round} ({self.reason}): {rows}; the other "
                "strategies go on")


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 4, 4
SHOWN_CHARS = 80  # a value quoted in an error is cut to this many characters
MESSAGE_CHARS = 400  # and a whole message to this many


def short(value: Any) -> str:
    """``repr(value)`` cut to :data:`SHOWN_CHARS` without ever building the whole repr (a YAML alias bomb's
    value has billions of elements)."""
    text = _REPR.repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def one_line(message: str, limit: int = MESSAGE_CHARS) -> str:
    """``message`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def did_you_mean(word: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to ``word``, or ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
