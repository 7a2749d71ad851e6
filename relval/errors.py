"""Errors that the CLI reports as one line each, without a traceback, and the exit codes.

Exit codes, the same for `run`, `submit`, `status` and `campaign`:
0 PASS (warnings allowed), 1 FAIL (a regression), 2 bad input,
3 no verdict (something missing, unreachable or broken).
"""

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT, EXIT_NO_VERDICT = 0, 1, 2, 3


class RelvalError(Exception):
    """An expected failure: bad input, a missing tool, an unreachable host.

    `problems` holds one message per problem so that a validator can report
    everything it found at once; `exit_code` follows the CLI convention
    (2: usage or input error; 3: no verdict, see `NoVerdictError`).
    """

    def __init__(self, problems, exit_code: int = EXIT_BAD_INPUT):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        self.exit_code = exit_code
        super().__init__("\n".join(self.problems))


class NoVerdictError(RelvalError):
    """Something a verdict needs is missing, unreachable or broken (a reference, a
    host, a tool): the run cannot say PASS or FAIL. Exit code 3."""

    def __init__(self, problems):
        super().__init__(problems, exit_code=EXIT_NO_VERDICT)
