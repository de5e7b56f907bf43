"""The five domains of M³ToolEval and a fresh set of tools for one task.

Every call of `build` makes new tools: tools of one task share state (the web browser, the
travel tables), tools of two tasks never do."""

from . import decoder, dna, trade, travel, web

FACTORIES = {
    "message_decoder": decoder.make_tools,
    "cryptobotanists_plant_dna_sequencer": dna.make_tools,
    "trade_calculator": trade.make_tools,
    "travel_itinerary_planning": travel.make_tools,
    "web_browsing": web.make_tools,
}


def build(domain, names=None):
    """Fresh tools of `domain`: all of them, or those of `names` in that order.

    Unknown domain or tool name: ValueError."""
    if not isinstance(domain, str) or domain not in FACTORIES:
        raise ValueError(f"unknown domain {domain!r}; known: {sorted(FACTORIES)}")
    tools = FACTORIES[domain]()
    for name, tool in tools.items():
        # The tools are closures; Python names a closure's qualified name in its call errors
        # ("make_tools.<locals>.book_hotel() got an unexpected keyword argument"), where the
        # original's module-level tools read "book_hotel() got ...": the model sees the latter.
        tool.__qualname__ = name
    if names is None:
        return tools
    chosen = {}
    for name in names:
        if not isinstance(name, str) or name not in tools:
            raise ValueError(f"unknown tool {name!r} in domain {domain!r}; known: {list(tools)}")
        chosen[name] = tools[name]
    return chosen
