"""Every Pingbix-specific name and value, in one place.

Pingbix publishes no API reference. What is here comes from public client code that calls
``app.pingbix.com/SMSApi/send``, and from clients of the same white-label "SMSApi" platform
run under other brands (HostPinnacle, Zettatel; see the research notes, clevertap.md 4.2 and
4.3). The path, parameter names and success shape were seen for Pingbix itself; the error
wording, the delivery report fields and their values were seen only on the sister
deployments. When Pingbix's own documentation or a real answer says otherwise, correct the
constant here: nothing else in the plugin spells a Pingbix name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta, timezone
from enum import StrEnum
from typing import Final

# --- Paths ---------------------------------------------------------------------------------

#: Send one text to one or more numbers (``sendMethod=quick``), GET query or POST form.
SEND_PATH: Final = "/SMSApi/send"
#: Pull the status of a transaction (``uuid`` = transaction id). Seen on HostPinnacle/Zettatel.
STATUS_PATH: Final = "/SMSApi/report/status"


class Param:
    """Request parameters of :data:`SEND_PATH` (and :data:`STATUS_PATH`)."""

    USERID: Final = "userid"
    PASSWORD: Final = "password"
    SEND_METHOD: Final = "sendMethod"
    MOBILE: Final = "mobile"
    MSG: Final = "msg"
    SENDERID: Final = "senderid"
    MSG_TYPE: Final = "msgType"
    DLT_ENTITY_ID: Final = "dltEntityId"
    DLT_TEMPLATE_ID: Final = "dltTemplateId"
    OUTPUT: Final = "output"
    #: The transaction id, for :data:`STATUS_PATH`.
    UUID: Final = "uuid"


#: The request parameters that carry the account's credentials.
CREDENTIAL_PARAMS: Final = (Param.USERID, Param.PASSWORD)

SEND_METHOD_QUICK: Final = "quick"
MSG_TYPE_TEXT: Final = "text"
MSG_TYPE_UNICODE: Final = "unicode"
OUTPUT_JSON: Final = "json"

#: ``mobile`` may list several numbers separated by this (one number per request here).
MOBILE_SEPARATOR: Final = ","


class Reply:
    """Keys of the JSON body :data:`SEND_PATH` answers with (errors come with HTTP 200)."""

    STATUS: Final = "status"
    STATUS_CODE: Final = "statusCode"
    TRANSACTION_ID: Final = "transactionId"
    REASON: Final = "reason"
    MOBILE: Final = "mobile"
    INVALID_MOBILE: Final = "invalidMobile"
    MSG_ID: Final = "msgId"


#: :attr:`Reply.STATUS` of an accepted request; anything else is an error.
STATUS_SUCCESS: Final = "success"
#: :attr:`Reply.STATUS` the error bodies use (an assumption: only "success" was seen).
STATUS_ERROR: Final = "error"
#: :attr:`Reply.STATUS_CODE` of an accepted request.
STATUS_CODE_SUCCESS: Final = "200"


class Dlr:
    """Fields of a delivery report pushed to the DLR URL (GET query or POST form).

    Match them without regard to case: the sister deployments differ in capitals.
    """

    TRANSACTION_ID: Final = "Transactionid"
    MESSAGE_ID: Final = "Messageid"
    ERROR_CODE: Final = "ErrorCode"
    MOBILE: Final = "mobileNo"
    RECEIVED_TIME: Final = "ReceivedTime"
    DELIVERED_TIME: Final = "DeliveredTime"
    #: Often absent: then a non-zero :attr:`ERROR_CODE` means failed.
    STATUS: Final = "Status"


class DlrStatus(StrEnum):
    """The :attr:`Dlr.STATUS` vocabulary seen on the platform, and SMPP's ``stat:`` words."""

    DELIVERED = "DELIVERED"
    DELIVRD = "DELIVRD"
    SUBMITTED = "SUBMITTED"
    SENT = "SENT"
    PENDING = "PENDING"
    ACCEPTD = "ACCEPTD"
    ACCEPTED = "ACCEPTED"
    ENROUTE = "ENROUTE"
    SCHEDLD = "SCHEDLD"
    QUEUED = "QUEUED"
    BUFFERED = "BUFFERED"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    REJECTD = "REJECTD"
    UNDELIV = "UNDELIV"
    UNDELIVERED = "UNDELIVERED"
    DELETED = "DELETED"
    UNKNOWN = "UNKNOWN"
    DND = "DND"
    NDNC = "NDNC"
    BLACKLIST = "BLACKLIST"
    BLACKLISTED = "BLACKLISTED"
    SPAM = "SPAM"
    INVALID = "INVALID"
    DUPLICATE = "DUPLICATE"


#: Statuses that mean the phone has the message.
DLR_DELIVERED: Final = frozenset({DlrStatus.DELIVERED, DlrStatus.DELIVRD, "DLVRD", "DELIVERD"})
#: Statuses that mean the platform or the network still holds it. ACCEPTD is final in SMPP
#: but not on these platforms (nor in Jasmin or Kannel): a final report follows it.
DLR_PENDING: Final = frozenset(
    {
        DlrStatus.SUBMITTED,
        DlrStatus.SENT,
        DlrStatus.PENDING,
        DlrStatus.ACCEPTD,
        DlrStatus.ACCEPTED,
        DlrStatus.ENROUTE,
        DlrStatus.SCHEDLD,
        DlrStatus.QUEUED,
        DlrStatus.BUFFERED,
        DlrStatus.PROCESSING,
    }
)
#: Words the API uses to acknowledge a call, not to report a delivery: not a status.
DLR_ENVELOPE: Final = frozenset({"SUCCESS", "OK"})

#: CleverTap failure code for each failing status (clevertap.md 3.3); any other failing
#: status is 900 with the status as its description.
DLR_STATUS_CODES: Final[dict[str, str]] = {
    DlrStatus.FAILED: "900",
    DlrStatus.UNKNOWN: "900",
    DlrStatus.REJECTED: "900",
    DlrStatus.REJECTD: "900",
    DlrStatus.UNDELIV: "914",
    DlrStatus.UNDELIVERED: "914",
    DlrStatus.EXPIRED: "916",
    DlrStatus.DELETED: "917",
    DlrStatus.DND: "901",
    DlrStatus.NDNC: "913",
    DlrStatus.SPAM: "902",
    DlrStatus.BLACKLIST: "903",
    DlrStatus.BLACKLISTED: "903",
    DlrStatus.INVALID: "910",
    DlrStatus.DUPLICATE: "918",
}

#: CleverTap code for a failing :attr:`Dlr.ERROR_CODE` when the report has no status.
#: No public material lists the platform's error codes, so none is mapped here: such a
#: failure is 900 with the code in its description. An operator who learns Pingbix's codes
#: maps them with the ``error_codes`` option (or here, for everyone).
DLR_ERROR_CODES: Final[dict[str, str]] = {}

#: :attr:`Dlr.ERROR_CODE` values (lower case) that mean no error, besides zeros.
DLR_NO_ERROR: Final = frozenset({"", "null", "none", "nil", "na", "n/a", "-", "--"})
#: :attr:`Dlr.DELIVERED_TIME` values that mean "not delivered (yet)".
DLR_NO_TIME: Final = frozenset({"", "0", "null", "none", "nil", "na", "n/a", "-", "--"})
#: How the report times are written. Assumed, as the zone is: Indian Standard Time.
DLR_TIME_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
DLR_TIMEZONE: Final = timezone(timedelta(hours=5, minutes=30), "IST")
#: The zone report times are read in unless the ``timezone`` option says otherwise.
DEFAULT_TIMEZONE: Final = "Asia/Kolkata"
#: Other spellings of a report time the sister deployments might use; tried in order after
#: :data:`DLR_TIME_FORMAT` (ISO 8601 with an offset, and epoch seconds or milliseconds,
#: are read too).
DLR_TIME_FORMATS: Final = (
    DLR_TIME_FORMAT,
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%d-%m-%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%Y%m%d%H%M%S",
)


class StatusReply:
    """Keys of the JSON body :data:`STATUS_PATH` answers with.

    ``{"response": {"reports_statusList": [{"status": {"Status": "DELIVERED", "Cause":
    "Success"}}]}}`` (HostPinnacle's client code); other keys of an entry (a number, the
    report times) are read with the :class:`Dlr` names when present.
    """

    RESPONSE: Final = "response"
    REPORTS: Final = "reports_statusList"
    STATUS: Final = "status"
    STATUS_WORD: Final = "Status"
    CAUSE: Final = "Cause"
    #: The number, when an entry names it (other spellings: :attr:`Dlr.MOBILE`).
    MOBILE: Final = "mobile"


# --- Judging an error body -----------------------------------------------------------------


class Verdict(StrEnum):
    """What an error answer means for the message that caused it."""

    #: The vendor will not send this message: fail it with :attr:`Refusal.code`.
    FAILED = "failed"
    #: The account cannot send anything (credentials, balance): stop using the vendor;
    #: the message itself is fine and waits or moves to the fallback.
    UNUSABLE = "unusable"
    #: A passing condition (throttling, busy): the message was not taken; send it later.
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Refusal:
    """How an error reason is treated: its verdict, CleverTap code and a plain description."""

    verdict: Verdict
    code: str
    description: str


#: Error reasons, matched in order as regular expressions against the lower-cased
#: :attr:`Reply.REASON`. Pingbix's exact wording is unknown, so each rule catches the
#: phrasings these platforms commonly use rather than one string; the first match wins:
#: throttling, then what names one message's DLT registration, then the account's
#: credentials, state and balance, then "try again", then the number and the content.
ERROR_RULES: Final[tuple[tuple[re.Pattern[str], Refusal], ...]] = tuple(
    (re.compile(pattern), refusal)
    for pattern, refusal in (
        (
            r"too many|rate limit|throttl",
            Refusal(Verdict.RETRY, "900", "Pingbix asked to try again later"),
        ),
        # What names one message's sender, entity, template or consent comes before the
        # account and "try again" words: "Sender ID is blocked for this account" refuses that
        # sender, not the account, and "Invalid template, please try again" never passes.
        (
            r"sender|header",
            Refusal(Verdict.FAILED, "906", "sender id refused (not registered in DLT?)"),
        ),
        (
            r"entity|\bpe ?id\b|principal",
            Refusal(Verdict.FAILED, "907", "DLT entity id refused"),
        ),
        (r"template", Refusal(Verdict.FAILED, "908", "DLT template refused")),
        (r"consent", Refusal(Verdict.FAILED, "909", "DLT consent refused")),
        (
            r"user ?id|user ?name|password|credential|authenticat|unauthori[sz]|login|api ?key"
            r"|\bip\b.*not (white ?listed|allowed|authori[sz]ed)",
            Refusal(Verdict.UNUSABLE, "900", "Pingbix refused the account credentials"),
        ),
        (
            r"account.*(block|suspend|inactive|expire|disable|lock|deactivat)"
            r"|(block|suspend|inactive|expire|disable|lock|deactivat).*account",
            Refusal(Verdict.UNUSABLE, "900", "the Pingbix account is not active"),
        ),
        (
            r"balance|credit|insufficient (fund|unit|sms)|recharge|no (sms )?units",
            Refusal(Verdict.UNUSABLE, "905", "the Pingbix account has no balance"),
        ),
        (
            r"try again|temporar|busy|overload",
            Refusal(Verdict.RETRY, "900", "Pingbix asked to try again later"),
        ),
        (r"ndnc|ncpr", Refusal(Verdict.FAILED, "913", "number is on the NDNC register")),
        (r"\bdnd\b", Refusal(Verdict.FAILED, "901", "number is on DND")),
        (r"spam", Refusal(Verdict.FAILED, "902", "refused as spam")),
        (
            r"black ?list|opt.?out|unsubscribe",
            Refusal(Verdict.FAILED, "903", "number is blacklisted"),
        ),
        (r"duplicate", Refusal(Verdict.FAILED, "918", "refused as a duplicate message")),
        (r"url|whitelist", Refusal(Verdict.FAILED, "920", "URL in the text is not whitelisted")),
        (
            r"mobile|number|destination|recipient|msisdn",
            Refusal(Verdict.FAILED, "910", "invalid mobile number"),
        ),
    )
)

#: HTTP statuses, and ``statusCode`` values in an error answer, that refuse the account
#: rather than the message when its words name nothing about the message. Assumed, as HTTP
#: uses them (401 credentials, 402 payment, 403 forbidden), and as our sandbox answers; no
#: Pingbix material lists its codes.
ACCOUNT_STATUS_CODES: Final = frozenset({401, 402, 403})

#: An error reason no rule knows.
UNKNOWN_ERROR: Final = Refusal(Verdict.FAILED, "900", "Pingbix refused the message")


def judge_error(reason: str) -> Refusal:
    """How to treat an error answer whose :attr:`Reply.REASON` is ``reason``."""
    text = reason.lower()
    for pattern, refusal in ERROR_RULES:
        if pattern.search(text):
            return refusal
    return UNKNOWN_ERROR
