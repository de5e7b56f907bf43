"""Tools of the travel_itinerary_planning domain, written from the pack's tools.json over the
flight and hotel tables of data/travel.json.

Each task gets its own copy of the tables: records are returned as stored, so a task that
changes one sees its change for the rest of the task, and no other task does."""

import builtins
import copy

from . import data


def _bare(location):
    return location.strip('"')


def make_tools():
    table = copy.deepcopy(data.TRAVEL)
    locations = table["locations"]
    supported = {_bare(location) for location in locations}

    def find_flights(from_location, to_location, date):
        """Finds flights based on source, destination and date."""
        from_location = _bare(from_location)
        to_location = _bare(to_location)
        if from_location not in supported:
            raise ValueError(f"Origin [{from_location}] is not supported. Supported from_locations: {locations}")
        if to_location not in supported:
            raise ValueError(f"Destination [{to_location}] is not supported. Supported to_locations: {locations}")
        return [
            flight
            for flight in table["flights"]
            if _bare(flight["from_location"]) == from_location
            and _bare(flight["to_location"]) == to_location
            and flight["date"] == date
        ]

    def book_hotel(location, *preferences):
        """Books a hotel based on location and preferences."""
        location = _bare(location)
        if location not in supported:
            raise ValueError(f"Location [{location}] is not supported. Supported locations: {locations}")
        return [
            hotel
            for hotel in table["hotels"]
            if _bare(hotel["location"]) == location
            and all(preference in hotel["preferences"] for preference in preferences)
        ]

    def budget_calculator(flight_price, hotel_price_per_night, num_nights):
        """Calculates the total budget for a trip."""
        return flight_price + hotel_price_per_night * num_nights

    # The domain's max, min and sum shadow the built-ins in a code-mode session, so they must
    # call the built-ins explicitly.
    def max(*args):
        """Finds the maximum value among the given arguments."""
        return builtins.max(*args)

    def min(*args):
        """Finds the minimum value among the given arguments."""
        return builtins.min(*args)

    def sum(*args):
        """Sums the given arguments."""
        return builtins.sum(args)

    return {
        "find_flights": find_flights,
        "book_hotel": book_hotel,
        "budget_calculator": budget_calculator,
        "max": max,
        "min": min,
        "sum": sum,
    }
