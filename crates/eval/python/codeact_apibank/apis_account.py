"""Account and bank APIs: GetUserToken, DeleteAccount, ForgotPassword, ModifyPassword, RegisterUser,
QueryBalance, OpenBankAccount. Behaviour from each API's ``behavior`` in the pack's apis.json.
"""

from .database import ApiError, random_token
from .registry import api

VERIFICATION_CODE = 970420


@api("GetUserToken")
def get_user_token(db, username, password):
    accounts = db.table("Account")
    if username not in accounts:
        raise ApiError("The username does not exist.")
    if accounts[username]["password"] != password:
        raise ApiError("The password is incorrect.")
    return {"token": accounts[username]["token"]}


@api("DeleteAccount", with_name=False)
def delete_account(db, token):
    db.token_user(token)
    username = db.token_user(token)
    del db.table("Account")[username]
    return {"status": "success"}


@api("ForgotPassword", echo="given", with_name=False)
def forgot_password(db, status, username, email, verification_code, new_password):
    state = db.forgot_password
    accounts = db.table("Account")
    if status == "Forgot Password":
        if username is None or email is None:
            raise ApiError("The username and email are required for the first call.")
        if username not in accounts:
            raise ApiError("The username does not exist.")
        if accounts[username]["email"] != email:
            raise ApiError("The email is incorrect.")
        state["username"] = username
        state["code"] = VERIFICATION_CODE
        return VERIFICATION_CODE
    if status == "Verification Code":
        if state["code"] is None:
            raise ApiError("You need to call the API with status 'Forgot Password' at first.")
        if new_password is None or verification_code is None:
            raise ApiError("The new password and verification code are required for the second call.")
        if verification_code != state["code"]:
            raise ApiError("The verification code is incorrect.")
        accounts[state["username"]]["password"] = new_password
        return "success"
    raise ApiError("The status is only 'Forgot Password' or 'Verification Code'.")


@api("ModifyPassword")
def modify_password(db, token, old_password, new_password):
    username = db.token_user(token)
    record = db.table("Account")[username]
    if record["password"] != old_password:
        raise ApiError("The old password is incorrect.")
    record["password"] = new_password
    return {"status": "success"}


@api("RegisterUser", with_name=False)
def register_user(db, username, password, email):
    accounts = db.table("Account")
    if username in accounts:
        raise ApiError("The username already exists.")
    token = db.draw(random_token)
    accounts[username] = {"password": password, "token": token, "email": email}
    return {"token": token}


@api("QueryBalance")
def query_balance(db, token):
    try:
        username = db.token_user(token)
    except Exception:  # noqa: BLE001 - the original re-raises any token-check failure as this text
        raise ApiError("The token is incorrect.") from None
    bank = db.table("Bank")
    if username not in bank:
        raise ApiError("The user does not have an account.")
    return bank[username]["balance"]


@api("OpenBankAccount")
def open_bank_account(db, account, password, name):
    table = db.bank_accounts
    if any(entry["account"] == account for entry in table.values()):
        return "failed"
    table[len(table) + 1] = {"account": account, "password": password, "name": name}
    return "success"
