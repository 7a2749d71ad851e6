"""Errors that the CLI reports as one line each, without a traceback."""


class RelvalError(Exception):
    """An expected failure: bad input, a missing tool, an unreachable host.

    `problems` holds one message per problem so that a validator can report
    everything it found at once; `exit_code` follows the CLI convention
    (2: usage, input or infrastructure error).
    """

    def __init__(self, problems, exit_code: int = 2):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.exit_code = exit_code
        super().__init__("\n".join(self.problems))
