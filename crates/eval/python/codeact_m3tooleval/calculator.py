"""The `calculator` tool shared by the trade_calculator and web_browsing domains.

tools.json: evaluate the expression as a Python expression (full eval in the tools' namespace);
if evaluation raises anything, return 'Failed to evaluate expression: ' + the expression."""


def make_calculator(namespace):
    """A calculator whose eval sees `namespace` (the task's tools, filled in by the caller)."""

    def calculator(expression):
        """Evaluates the given expression and returns the result."""
        try:
            return eval(expression, namespace)  # noqa: S307 - the tool is a Python eval by specification
        # The tool must never raise: any failure, SystemExit from exit() included, becomes its
        # failure string. KeyboardInterrupt (the cell's time limit) still escapes.
        except (Exception, SystemExit):  # noqa: BLE001 - "if evaluation raises anything"
            return f"Failed to evaluate expression: {expression}"

    return calculator
