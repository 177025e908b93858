"""Every size limit of the records Sendguard reads and writes, in one place.

Kafka refuses a record batch larger than a topic's ``max.message.bytes`` (1,048,588
bytes by default, inherited from the broker's ``message.max.bytes``), and aiokafka's
producer refuses a request over ``max_request_size`` (1 MiB by default) before the
broker sees it. A record Sendguard cannot write would stop its flush, and the worker
would read the same input again after a restart: a crash loop. So every producer string
has a cap (longer ones are dead-lettered), every list a row keeps has a cap
(``policy.state``), and every record Sendguard writes has a byte budget well under
Kafka's default, checked where it is encoded.
"""

from __future__ import annotations

#: Identifiers and names from producers: event, account, campaign and complaint ids,
#: blocklist names, IP addresses.
MAX_ID_CHARS = 200
#: A DNS name (RFC 1035: at most 253 characters written out).
MAX_DOMAIN_CHARS = 253
#: An email address (RFC 5321: 64 + 1 + 255).
MAX_EMAIL_CHARS = 320
#: Free text from producers: a bounce's ``diagnostic``, a complaint's ``summary``.
MAX_TEXT_CHARS = 2048
#: An appeal id (``api.accounts.appeal_id_for``): "ap-", 16 hex digits, "-", then the
#: account id's UTF-8 (at most 4 bytes a character) in unpadded URL-safe base64.
MAX_APPEAL_ID_CHARS = 3 + 16 + 1 + (4 * MAX_ID_CHARS * 4 + 2) // 3

#: The largest input message the parser reads (a larger one is dead-lettered).
MAX_MESSAGE_BYTES = 1024 * 1024
#: Kafka's default ``message.max.bytes``; set explicitly as ``max.message.bytes`` on every
#: topic Sendguard creates, so a cluster with another default behaves the same.
TOPIC_MAX_MESSAGE_BYTES = 1_048_588
#: The budget of one record Sendguard writes (key, value and headers): half of Kafka's
#: default limit, so that any record fits a producer batch with room to spare.
MAX_RECORD_BYTES = 512 * 1024

#: A dead letter keeps this much of the rejected message, as UTF-8 text.
MAX_DEAD_LETTER_RAW_BYTES = 64 * 1024
#: A dead letter's ``error`` is cut at this many characters (a reason may quote
#: producer text).
MAX_DEAD_LETTER_ERROR_CHARS = 2048
#: A dead letter's Kafka key keeps this much of the rejected record's key (a producer's
#: key can be as large as a message).
MAX_DEAD_LETTER_KEY_BYTES = 1024
#: Worst case of a dead letter, well inside ``MAX_RECORD_BYTES``: JSON writes a control
#: character as 6 bytes (``\u0001``), so 64 KiB of raw text can take 384 KiB, the error
#: 12 KiB, the key 1 KiB (``tests/schemas/test_parse.py`` builds it).
