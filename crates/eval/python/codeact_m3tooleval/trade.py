"""Tools of the trade_calculator domain, written from the pack's tools.json."""

from .calculator import make_calculator
from .extremes import largest, smallest


def convert_currency(base_price, conversion_rate):
    """Converts the commodity price to local currency."""
    return base_price * conversion_rate


def calculate_tariff(price, tariff_rate):
    """Calculates the trade tariff based on the converted price."""
    return price * tariff_rate / 100


def estimate_final_value(price, tariff):
    """Estimates the final trade value including the tariff."""
    return price + tariff


def find_minimum(*args):
    """Finds the minimum value among the given arguments."""
    return smallest(args)


def find_maximum(*args):
    """Finds the maximum value among the given arguments."""
    return largest(args)


def make_tools():
    # The calculator's eval sees the domain's tools, itself included.
    namespace = {}
    tools = {
        "convert_currency": convert_currency,
        "calculate_tariff": calculate_tariff,
        "estimate_final_value": estimate_final_value,
        "calculator": make_calculator(namespace),
        "find_minimum": find_minimum,
        "find_maximum": find_maximum,
    }
    namespace.update(tools)
    return tools
