"""Hospital and health APIs: AppointmentRegistration, CancelRegistration, ModifyRegistration,
QueryRegistration, RecordHealthData, QueryHealthData, SymptomSearch, EmergencyKnowledge. Behaviour
from each API's ``behavior`` in the pack's apis.json (NORM_DATE / NORM_DATETIME in ``dates``).
"""

from .database import ApiError, random_appointment_id
from .dates import DATE, DATETIME, normalise, strptime, zero_fill
from .registry import api


@api("AppointmentRegistration")
def appointment_registration(db, patient_name, date, doctor_name):
    patient_name = patient_name.strip()
    doctor_name = doctor_name.strip()
    if not patient_name or not doctor_name:
        raise ApiError("Patient name or doctor name cannot be empty.")
    date = normalise(date, DATE)
    appointments = db.table("Appointments")
    for record in appointments.values():
        if record["patient_name"] == patient_name and normalise(record["date"], DATE) == date:
            if record["doctor_name"] == doctor_name:
                raise ApiError("This appointment has already been registered.")
            raise ApiError("This patient has already been registered in this day.")
    appointment_id = db.draw(random_appointment_id)
    while appointment_id in appointments:
        appointment_id = random_appointment_id(db.rng)
    appointments[appointment_id] = {"patient_name": patient_name, "date": date, "doctor_name": doctor_name}
    return appointment_id


@api("CancelRegistration")
def cancel_registration(db, appointment_id):
    appointment_id = appointment_id.strip()
    appointments = db.table("Appointments")
    if appointment_id not in appointments:
        raise ApiError("The appointment ID is incorrect.")
    del appointments[appointment_id]
    return "success"


@api("ModifyRegistration")
def modify_registration(db, appointment_id, new_appointment_date, new_appointment_doctor):
    appointment_id = appointment_id.strip()
    appointments = db.table("Appointments")
    if appointment_id not in appointments:
        raise ApiError("The appointment ID does not exist.")
    date_error = None
    if new_appointment_date is not None:
        try:
            new_appointment_date = normalise(new_appointment_date, DATE)
        except ValueError as error:
            date_error = error
    if new_appointment_doctor is not None:
        new_appointment_doctor = new_appointment_doctor.strip()
        if not new_appointment_doctor:
            raise ApiError("Fail because the doctor name is empty.")
    if date_error is not None:
        raise date_error
    record = appointments[appointment_id]
    has_date, has_doctor = new_appointment_date is not None, new_appointment_doctor is not None
    same_date = has_date and new_appointment_date == record["date"]
    same_doctor = has_doctor and new_appointment_doctor == record["doctor_name"]
    if not has_date and not has_doctor:
        raise ApiError("Fail because no modification is made.")
    if has_date and has_doctor and same_date and same_doctor:
        raise ApiError("Fail because no modification is made.")
    if same_date:
        raise ApiError("Fail because date is not changed.")
    if same_doctor:
        raise ApiError("Fail because doctor is not changed.")
    if has_date:
        record["date"] = new_appointment_date
    if has_doctor:
        record["doctor_name"] = new_appointment_doctor
    return "success"


@api("QueryRegistration")
def query_registration(db, patient_name, date):
    patient_name = patient_name.strip()
    date = normalise(date, DATE)
    found = {
        key: record
        for key, record in db.table("Appointments").items()
        if record["patient_name"] == patient_name and normalise(record["date"], DATE) == date
    }
    if not found:
        raise ApiError("No appointments found.")
    return found


@api("RecordHealthData")
def record_health_data(db, user_id, time, health_data):
    user_id = user_id.upper().strip()
    if not user_id:
        raise ApiError("The user id cannot be empty.")
    time = normalise(time, DATETIME)
    if not health_data:
        raise ApiError("The health data cannot be empty.")
    names = []
    # A string (every code/text reply, quirk Q8) is iterated character by character and fails here.
    for item in health_data:
        if "name" not in item:
            raise ApiError("The health data has invalid format.")
        if item["name"] in names:
            raise ApiError("The health data cannot contain duplicate items.")
        names.append(item["name"])
    records = db.table("HealthData").setdefault(user_id, [])
    for record in records:
        if record["time"] == time:
            for item in health_data:
                record[item["name"]] = item["value"]
            return "success"
    record = {"time": time}
    for item in health_data:
        record[item["name"]] = item["value"]
    records.append(record)
    return "success"


def _parse_time(text):
    try:
        return strptime(zero_fill(text), DATETIME), None
    except ValueError as error:
        return None, error


@api("QueryHealthData")
def query_health_data(db, user_id, start_time, end_time):
    user_id = user_id.upper().strip()
    start, start_error = _parse_time(start_time)
    end, end_error = _parse_time(end_time)
    if not user_id:
        raise ApiError("The user id cannot be empty.")
    if start_error is not None and end_error is not None:
        raise ApiError(f"{start_error}; {end_error}")
    if start_error is not None:
        raise start_error
    if end_error is not None:
        raise end_error
    if start > end:
        raise ApiError("The start time cannot be later than the end time.")
    table = db.table("HealthData")
    if user_id not in table:
        raise ApiError("The user id does not exist.")
    found = [r for r in table[user_id] if start <= strptime(r["time"], DATETIME) <= end]
    if not found:
        raise ApiError("There is no health data in the given time span.")
    return found


@api("SymptomSearch")
def symptom_search(db, symptom):
    symptom = symptom.strip().lower()
    if not symptom:
        raise ApiError("The symptom cannot be empty.")
    table = db.table("Symptom")
    if symptom not in table:
        raise ApiError("The symptom does not exist.")
    return [{"name": d["name"], "description": d["description"]} for d in table[symptom]]


@api("EmergencyKnowledge")
def emergency_knowledge(db, symptom):
    symptom = symptom.strip()
    if not symptom:
        # The original builds an exception object and then calls lower() on it.
        raise ApiError("'Exception' object has no attribute 'lower'")
    symptom = symptom.lower()
    table = db.table("Symptom")
    if symptom not in table:
        raise ApiError("The symptom does not exist.")
    return [{"name": d["name"], "aid": d["aid"]} for d in table[symptom]]
