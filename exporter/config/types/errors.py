"""Configuration problems: ``ConfigError`` and the one-line form of each problem."""

from __future__ import annotations

MAX_PROBLEM_LENGTH = 500


def one_line(text: str, limit: int = MAX_PROBLEM_LENGTH) -> str:
    """``text`` as one printable line: control characters escaped, cut at ``limit``."""
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


MAX_PROBLEMS = 100


class ConfigError(Exception):
    """An invalid configuration: one line per problem, the first ``MAX_PROBLEMS`` of them
    (a generated file can hold thousands; a reload's HTTP answer and the log stay small)."""

    def __init__(self, problems: list[str]) -> None:
        more = len(problems) - MAX_PROBLEMS
        problems = [one_line(problem) for problem in problems[:MAX_PROBLEMS]]
        if more > 0:
            problems.append(f"... and {more} more problems")
        super().__init__("\n".join(problems))
        self.problems = problems
