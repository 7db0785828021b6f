"""Every name and value of the Example SMS API, in one place.

**What a contributor changes here:** everything the vendor's documentation spells: paths,
JSON keys, status words, error codes, and which CleverTap code each error means. The other
modules spell no vendor name, so adapting this plugin to a real vendor starts with this file
and should mostly end with it.

Until this file is corrected from a real vendor's documentation, the API described here is
the made-up one that smsgate's example plugin was written for, the other common shape of SMS
API beside Pingbix's: a JSON API that takes many messages in one request with a bearer
token, answers with one result per message, and pushes delivery reports signed the Standard
Webhooks way (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64
HMAC-SHA256>``, a ``whsec_`` secret). The fake vendor,
:mod:`smsgate_example_provider.sandbox`, implements exactly what is written here.
"""

from __future__ import annotations

from typing import Final

# --- Sending -------------------------------------------------------------------------------

#: Send a batch of messages: ``POST`` with a JSON body of :class:`Send` keys.
SEND_PATH: Final = "/v1/messages"
#: The status of one message: ``GET`` with the message id appended (``/v1/messages/{id}``).
MESSAGE_PATH: Final = "/v1/messages/"
#: The header that carries the API key, and how its value is written.
AUTH_HEADER: Final = "Authorization"
AUTH_SCHEME: Final = "Bearer"
#: The most messages one send request may carry.
MAX_BATCH: Final = 1000


class Send:
    """Keys of the send request body: ``{"messages": [{...}, ...]}``."""

    MESSAGES: Final = "messages"
    #: Our own id for the message, echoed in its result and its delivery reports.
    REFERENCE: Final = "reference"
    TO: Final = "to"
    FROM: Final = "from"
    #: The text; absent when the vendor fills a registered template itself.
    TEXT: Final = "text"
    #: ``gsm7`` or ``ucs2``.
    ENCODING: Final = "encoding"
    #: The DLT template id (India); with ``text``, the text must match that template.
    TEMPLATE_ID: Final = "template_id"
    #: The template's variables, in order, when there is no ``text``.
    VARIABLES: Final = "variables"
    #: The DLT principal entity id.
    ENTITY_ID: Final = "entity_id"


ENCODING_GSM7: Final = "gsm7"
ENCODING_UCS2: Final = "ucs2"


class Result:
    """Keys of the send answer: ``{"results": [{...}, ...]}``, one entry per message."""

    RESULTS: Final = "results"
    REFERENCE: Final = "reference"
    #: :data:`ACCEPTED` or :data:`REJECTED`.
    STATUS: Final = "status"
    #: The vendor's id of an accepted message: delivery reports name it.
    ID: Final = "id"
    #: An :class:`Error` object, for a rejected message.
    ERROR: Final = "error"


ACCEPTED: Final = "accepted"
REJECTED: Final = "rejected"


class Error:
    """Keys of an error object: in a rejected result, and as ``{"error": {...}}`` in an
    answer that refuses the whole request."""

    ERROR: Final = "error"
    CODE: Final = "code"
    MESSAGE: Final = "message"


#: Error codes that refuse one message for good, with CleverTap's code for each.
REJECTION_CODES: Final[dict[str, str]] = {
    "invalid_number": "910",
    "dnd": "901",
    "ndnc": "913",
    "spam": "902",
    "blacklisted": "903",
    "invalid_sender": "906",
    "invalid_entity": "907",
    "invalid_template": "908",
    "template_mismatch": "908",
    "no_consent": "909",
    "duplicate": "918",
    "url_not_whitelisted": "920",
    "empty_message": "900",
    "message_too_long": "900",
}
#: Error codes of one message that mean "not now": it was not taken and can be sent again.
RETRY_CODES: Final = frozenset({"throttled", "temporarily_unavailable"})
#: Error codes of a whole request that mean the account cannot send anything.
UNUSABLE_CODES: Final = frozenset({"unauthorized", "forbidden", "insufficient_funds"})
#: CleverTap's code for an account without funds (the other unusable codes are 900).
NO_FUNDS_CODE: Final = "905"

# --- Delivery reports ----------------------------------------------------------------------

#: The Standard Webhooks headers (spec v1), lower case as smsgate hands headers to plugins.
HEADER_ID: Final = "webhook-id"
HEADER_TIMESTAMP: Final = "webhook-timestamp"
HEADER_SIGNATURE: Final = "webhook-signature"
#: The signature scheme in use: HMAC-SHA256, written ``v1,<base64>``.
SIGNATURE_VERSION: Final = "v1"
#: How a signing secret starts; base64 of the key follows.
SECRET_PREFIX: Final = "whsec_"
#: How far a report's timestamp may be from our clock, either way, in seconds.
DEFAULT_TOLERANCE: Final = 300.0


class Report:
    """Keys of a delivery report body: ``{"type": ..., "timestamp": ..., "data": {...}}``."""

    TYPE: Final = "type"
    TIMESTAMP: Final = "timestamp"
    DATA: Final = "data"
    ID: Final = "id"
    REFERENCE: Final = "reference"
    TO: Final = "to"
    STATUS: Final = "status"
    ERROR: Final = "error"
    #: When the status changed, ISO 8601 with a zone; in ``data``, and in lookup answers.
    UPDATED_AT: Final = "updated_at"


#: The :attr:`Report.TYPE` of a status change; reports of other types carry no events.
STATUS_EVENT: Final = "message.status"

#: Statuses that are not final: the vendor or the network still holds the message.
PENDING_STATUSES: Final = frozenset({"queued", "sent"})
DELIVERED: Final = "delivered"
#: Final failing statuses, with CleverTap's code for each; the error code, when the report
#: has one listed in :data:`REJECTION_CODES`, is more precise and wins.
FAILED_STATUSES: Final[dict[str, str]] = {
    "failed": "900",
    "rejected": "900",
    "undelivered": "914",
    "expired": "916",
}
