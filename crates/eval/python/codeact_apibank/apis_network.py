"""Dictionary and Translate: the two APIs that need the internet. This package never touches the
network; each call logs the request the original would make (``db.network_requests``) and returns the
offline outcome the pack's vectors record.

Facts from the pack's apis.json: Dictionary GETs a dictionary web service (offline: the HTTP
library's connection error text; the object address in it varies per run). Translate maps language
names with googletrans 3.1.0a0's table and restores ALL_PROXY afterwards, which raises when the
variable was unset (quirk Q14: the first Translate call of a process without ALL_PROXY fails).
"""

from urllib.parse import quote

from .database import ApiError
from .dataset import languages
from .registry import CallFailed, api

DICTIONARY_HOST = "api.dictionaryapi.dev"
DICTIONARY_PATH = "/api/v2/entries/en_US/"
OFFLINE_ADDRESS = "0x7f0000000000"
NO_NAME_RESOLUTION = "[Errno -2] Name or service not known"


@api("Dictionary")
def dictionary(db, keyword):
    keyword = keyword.replace("_", " ").strip().lower()
    db.network_requests.append({"http_get": f"https://{DICTIONARY_HOST}{DICTIONARY_PATH}{keyword}"})
    path = quote(DICTIONARY_PATH + keyword, safe="/:@!$&'()*+,;=-._~%")
    raise ApiError(
        f"HTTPSConnectionPool(host='{DICTIONARY_HOST}', port=443): Max retries exceeded with url: {path} "
        f"(Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at {OFFLINE_ADDRESS}>: "
        f"Failed to establish a new connection: {NO_NAME_RESOLUTION}'))"
    )


def language_code(text):
    """googletrans code for a language name or code (lower-cased); ApiError when unsupported."""
    text = text.lower()
    if "chinese" in text:
        return "zh-tw" if "traditional" in text else "zh-cn"
    for code, name in languages():
        if code == text or name in text:
            return code
    raise ApiError("Language not supported.")


def _translate_offline(db, src, src_lang, tgt_lang):
    dest = "en" if tgt_lang is None else language_code(tgt_lang)
    source = "auto" if src_lang is None else language_code(src_lang)
    db.network_requests.append({"googletrans_translate": {"text": src, "dest": dest, "src": source}})
    raise ApiError(NO_NAME_RESOLUTION)


@api("Translate", echo="given")
def translate(db, src, src_lang, tgt_lang):
    saved = db.env.get("ALL_PROXY")
    db.env["ALL_PROXY"] = ""
    try:
        _translate_offline(db, src, src_lang, tgt_lang)
        failure = None
    except Exception as error:  # noqa: BLE001 - the original turns every translation error into the result's text
        failure = error
    # The restore runs after the original's error handling: with ALL_PROXY unset it raises out of the
    # call whatever the translation did.
    if saved is None:
        raise CallFailed("TypeError", "str expected, not NoneType")
    db.env["ALL_PROXY"] = saved
    if failure is not None:
        raise failure
