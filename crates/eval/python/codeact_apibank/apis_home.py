"""Smart-home, music, hotel and e-mail APIs: TimedSwitch, CancelTimedSwitch, QueryScene, DeleteScene,
PlayMusic, BookHotel, SendEmail. Behaviour from each API's ``behavior`` in the pack's apis.json
(quirk Q20: BookHotel misses a stay that contains an old one; SendEmail's strict address pattern).
"""

import re

from .database import ApiError
from .dates import DATE, DATETIME, normalise, strptime
from .registry import api

EMAIL = re.compile(r"^[a-z0-9]+[\._]?[a-z0-9]+[@]\w+[.]\w{2,3}$")


@api("TimedSwitch")
def timed_switch(db, name, time, on):
    name = name.strip().lower()
    if not name:
        raise ApiError("Name cannot be empty.")
    time = normalise(time, DATETIME)
    switches = db.table("TimeSwitch")
    if name not in switches:
        switches[name] = [{"time": time, "on": on}]
        return "success"
    for entry in switches[name]:
        if entry["time"] == time:
            entry["on"] = on
            return "success"
    switches[name].append({"time": time, "on": on})
    return "success"


@api("CancelTimedSwitch")
def cancel_timed_switch(db, name, time):
    name = name.strip().lower()
    if not name:
        raise ApiError("name cannot be empty.")
    time = normalise(time, DATETIME)
    switches = db.table("TimeSwitch")
    if name not in switches:
        raise ApiError("device name does not exist.")
    for index, entry in enumerate(switches[name]):
        if entry["time"] == time:
            del switches[name][index]
            return "success"
    raise ApiError("time does not exist.")


@api("QueryScene")
def query_scene(db, name):
    name = name.strip().lower()
    if not name:
        raise ApiError("Scene name cannot be empty.")
    scenes = db.table("Scenes")
    if name not in scenes:
        raise ApiError("Scene not found.")
    return scenes[name]


@api("DeleteScene")
def delete_scene(db, name):
    name = name.strip().lower()
    if not name:
        raise ApiError("Scene name cannot be empty.")
    scenes = db.table("Scenes")
    if name not in scenes:
        raise ApiError("The scene does not exist.")
    del scenes[name]
    return "success"


@api("PlayMusic")
def play_music(db, music_name):
    name = music_name.lower().strip()
    if not name:
        raise ApiError("The music name cannot be empty.")
    return "music://" + name


@api("BookHotel")
def book_hotel(db, hotel_name, check_in_time, check_out_time, room_count, adult_count, child_count):
    new_in = strptime(check_in_time, DATE)
    new_out = strptime(check_out_time, DATE)
    if adult_count > 2 and room_count == 1:
        raise ApiError("The number of adults is greater than 2. Two rooms are ordered.")
    hotels = db.table("Hotel")
    for order in hotels.values():
        if order["hotel_name"] != hotel_name:
            continue
        old_in = strptime(order["check_in_time"], DATE)
        old_out = strptime(order["check_out_time"], DATE)
        if old_in <= new_in < old_out or old_in < new_out <= old_out:
            raise ApiError("The room is not available.")
    order_id = str(len(hotels) + 1)
    hotels[order_id] = {
        "hotel_name": hotel_name,
        "check_in_time": check_in_time,
        "check_out_time": check_out_time,
        "room_count": room_count,
        "adult_count": adult_count,
        "child_count": child_count,
    }
    return order_id


@api("SendEmail")
def send_email(db, receiver, subject, content):
    receiver, subject, content = receiver.strip(), subject.strip(), content.strip()
    if not EMAIL.search(receiver):
        raise ApiError("Email address of the receiver is invalid.")
    if not subject:
        raise ApiError("Subject cannot be empty.")
    if not content:
        raise ApiError("Content cannot be empty.")
    return "success"
