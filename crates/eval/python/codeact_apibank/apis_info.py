"""Information APIs: Calculator, QueryStock, QueryHistoryToday, Wiki, ImageCaption, SpeechRecognition,
DocumentQA, GetToday. Behaviour from each API's ``behavior`` in the pack's apis.json.

Calculator follows the original's list reduction step by step so that its Python errors keep their
texts (quirk Q19). A formula that starts with an operator makes the original loop forever; here that
call fails at once instead (the outcome a run of the original never reaches).
"""

from .database import ApiError
from .dates import DATE, MONTH_DAY, format_as, normalise, strptime, zero_fill
from .registry import CallFailed, api

OPERATORS = "+-*/"
TODAY = "2023-03-31"


def _tokens(formula):
    tokens, number = [], ""
    for char in formula:
        if char.isdigit():
            number += char
            continue
        if number:
            tokens.append(float(number))
            number = ""
        tokens.append(char)
    if number:
        tokens.append(float(number))
    return tokens


def _apply(op, a, b):
    if op == "*":
        return a * b
    if op == "/":
        return a / b
    if op == "+":
        return a + b
    return a - b


def _reduce(tokens, ops):
    while any(op in tokens for op in ops):
        i = min(tokens.index(op) for op in ops if op in tokens)
        value = _apply(tokens[i], tokens[i - 1], tokens[i + 1])
        if i == 0:
            # tokens[-1:2] = [value] inserts instead of replacing; the operator at 0 never goes away.
            raise CallFailed("NonTerminating", "Calculator: a formula starting with an operator never terminates")
        tokens[i - 1 : i + 2] = [value]


def _evaluate(tokens):
    while "(" in tokens:
        left = tokens.index("(")
        right = tokens.index(")")
        tokens[left : right + 1] = [_evaluate(tokens[left + 1 : right])]
    _reduce(tokens, "*/")
    _reduce(tokens, "+-")
    return tokens[0]


@api("Calculator")
def calculator(db, formula):
    formula = formula.replace(" ", "")
    operators = sum(formula.count(op) for op in OPERATORS)
    if (
        not formula
        or any(char not in "0123456789+-*/()" for char in formula)
        or formula.count("(") != formula.count(")")
        or operators == 0
        or operators + 1 == len(formula)
    ):
        raise ApiError("invalid formula")
    return _evaluate(_tokens(formula))


@api("QueryStock")
def query_stock(db, stock_code, date):
    stock_code = stock_code.upper().strip()
    try:
        date, date_error = normalise(date, DATE), None
    except ValueError as error:
        date_error = error
    if not stock_code:
        raise ApiError("The stock code cannot be empty.")
    if date_error is not None:
        raise date_error
    stocks = db.table("Stock")
    if stock_code not in stocks:
        raise ApiError("The stock code does not exist.")
    if date not in stocks[stock_code]:
        raise ApiError("The stock price of this date is not maintained.")
    return stocks[stock_code][date]


@api("QueryHistoryToday")
def query_history_today(db, date):
    date = date.strip()
    if len(date.split("-")) == 3:
        date = zero_fill(date)
    try:
        month_day = format_as(strptime(date, DATE), MONTH_DAY)
    except ValueError:
        month_day = format_as(strptime(date, MONTH_DAY), MONTH_DAY)
    history = db.table("History")
    if month_day not in history:
        raise ApiError("The date is not in the database.")
    return [
        f"Title: {e['Title'].strip()}, Date: {e['Date'].strip()}, Description: {e['Description'].strip()}"
        for e in history[month_day]
    ]


@api("Wiki")
def wiki(db, keyword):
    keyword = keyword.replace("_", " ").strip().lower()
    pages = db.table("Wiki")
    if keyword not in pages:
        raise ApiError("Keyword not found.")
    return {"url": pages[keyword]["url"], "summary": pages[keyword]["summary"]}


@api("ImageCaption")
def image_caption(db, url):
    url = url.strip()
    if not url.endswith((".jpg", ".jpeg", ".png")):
        raise ApiError("The url should end with .jpg, .jpeg or .png.")
    for item in db.table("ImageCaptioning"):
        if item["url"] == url:
            return item["caption"]
    raise ApiError("The image of this url failed to be processed.")


@api("SpeechRecognition")
def speech_recognition(db, url):
    url = url.strip()
    if not url.endswith(".wav"):
        raise ApiError("The url should end with .wav.")
    transcripts = db.table("SpeechRecognition")
    if url not in transcripts:
        raise ApiError("The audio of this url failed to be processed.")
    return transcripts[url]


@api("DocumentQA")
def document_qa(db, url, question):
    url, question = url.strip(), question.strip()
    if not question:
        raise ApiError("The question is empty.")
    documents = db.table("QuestionAnswering")
    if url not in documents:
        raise ApiError("The document of this url failed to be processed.")
    # The original tests whether the question string is an element of the stored list, whose elements
    # are {question, answer} objects: never true (quirk Q10), so every known url answers the same.
    return "The question is too difficult to answer."


@api("GetToday", echo="none")
def get_today(db):
    return TODAY
