"""Tools of the message_decoder domain, written from the pack's tools.json."""

from .extremes import largest, smallest


def convert_hex_to_ascii(hex_string):
    """Converts a hexadecimal string to ASCII."""
    return bytes.fromhex(str(hex_string)).decode("utf-8")


def reverse_string(string):
    """Reverses a string."""
    return string[::-1]


def caesar_decode(message, shift):
    """Decodes a string using the Caesar cipher."""
    shift = int(shift)
    out = []
    for char in message:
        # The original tests case with isupper()/islower(), so a non-ASCII capital is shifted
        # with the 'A' base too (kept on purpose).
        if char.isupper():
            out.append(chr((ord(char) - 65 - shift) % 26 + 65))
        elif char.islower():
            out.append(chr((ord(char) - 97 - shift) % 26 + 97))
        else:
            out.append(char)
    return "".join(out)


def string_length(string):
    """Finds the length of a string."""
    return len(string)


def minimum_value(*args):
    """Finds the minimum value from given arguments."""
    # min over the tuple, not min(*args): no arguments is a ValueError, one list is returned whole.
    return smallest(args)


def maximum_value(*args):
    """Finds the maximum value from given arguments."""
    return largest(args)


def make_tools():
    return {
        "convert_hex_to_ascii": convert_hex_to_ascii,
        "reverse_string": reverse_string,
        "caesar_decode": caesar_decode,
        "string_length": string_length,
        "minimum_value": minimum_value,
        "maximum_value": maximum_value,
    }
