"""SNS adapter: Publish the way SNS accepts it (reference/aws-behaviour.md, SNS).

* **Subject**: "UTF-8 text with no line breaks or control characters, and less than 100
  characters long". Line breaks and other control characters become spaces, runs of spaces
  one, and a longer subject is cut to 96 characters plus "..." (99 in all). A subject left
  empty is not sent (SNS refuses an empty one).
* **FIFO topics** (the name ends in ``.fifo``): "Every message must include a MessageGroupId"
  and a deduplication id unless content-based deduplication is on. Every message goes in one
  group, ``dynamic-dynamodb`` (so they stay in order), with a MessageDeduplicationId that is
  the SHA-256 of topic, subject, message and the UTC minute: the same notification repeated
  within a minute (a retried request, say) is delivered once; any other is not suppressed.
* **Region**: "You can publish messages only to topics … in the same … Region" as the client.
  The region is read from the topic ARN (``arn:aws:sns:REGION:ACCOUNT:NAME``); a topic in
  another region than the default client's goes through a client for that region, made once
  by ``client_for_region`` (Clients.ports() passes one with the same credentials, config and
  call counting) and kept.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

SUBJECT_LIMIT = 99  # SNS: "less than 100 characters long"
ELLIPSIS = "..."
FIFO_GROUP_ID = "dynamic-dynamodb"
# Control characters (\n, \r, \t, …), surrogates, line and paragraph separators.
_REPLACED_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")
_SPACES = re.compile(r" {2,}")


def clean_subject(subject: str) -> str:
    """The subject as SNS accepts it: no line breaks or control characters, at most 99
    characters ("..." marks a cut); "" when nothing printable is left."""
    text = "".join(" " if unicodedata.category(char) in _REPLACED_CATEGORIES else char
                   for char in subject)
    text = _SPACES.sub(" ", text).strip()
    if len(text) > SUBJECT_LIMIT:
        text = text[: SUBJECT_LIMIT - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return text


def topic_region(topic_arn: str) -> str | None:
    """REGION of ``arn:PARTITION:sns:REGION:ACCOUNT:NAME``; None if it is not such an ARN."""
    parts = topic_arn.split(":")
    if len(parts) >= 6 and parts[0] == "arn" and parts[2] == "sns" and parts[3]:
        return parts[3]
    return None


def is_fifo(topic_arn: str) -> bool:
    return topic_arn.endswith(".fifo")


def deduplication_id(topic_arn: str, subject: str, message: str, now: datetime) -> str:
    minute = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
    text = "\n".join((topic_arn, subject, message, minute))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def publish_request(topic_arn: str, subject: str, message: str,
                    now: datetime | None = None) -> dict[str, Any]:
    """Publish's parameters: a clean subject, and FIFO ids for a ``.fifo`` topic."""
    request: dict[str, Any] = {"TopicArn": topic_arn, "Message": message}
    cleaned = clean_subject(subject)
    if cleaned:
        request["Subject"] = cleaned
    if is_fifo(topic_arn):
        request["MessageGroupId"] = FIFO_GROUP_ID
        request["MessageDeduplicationId"] = deduplication_id(
            topic_arn, cleaned, message, now or datetime.now(timezone.utc))
    return request


def publish(client: Any, topic_arn: str, subject: str, message: str) -> str:
    response = client.publish(**publish_request(topic_arn, subject, message))
    return str(response.get("MessageId", ""))


def client_region(client: Any) -> str | None:
    meta = getattr(client, "meta", None)
    region = getattr(meta, "region_name", None)
    return region if isinstance(region, str) else None


class SnsNotifier:
    """The NotifierPort over a boto3 SNS client, and clients for other regions' topics.

    Without ``client_for_region`` every topic goes through ``client`` (the simulator's fake,
    tests). ``clock`` gives the time for FIFO deduplication ids.
    """

    def __init__(self, client: Any, client_for_region: Callable[[str], Any] | None = None,
                 clock: Callable[[], datetime] | None = None):
        self.client = client
        self.client_for_region = client_for_region
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def client_for(self, topic_arn: str) -> Any:
        """The client to publish to this topic with: one in the topic's region."""
        region = topic_region(topic_arn)
        if region is None or self.client_for_region is None \
                or region == client_region(self.client):
            return self.client
        with self._lock:
            if region not in self._clients:
                self._clients[region] = self.client_for_region(region)
            return self._clients[region]

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        request = publish_request(topic_arn, subject, message, self.clock())
        response = self.client_for(topic_arn).publish(**request)
        return str(response.get("MessageId", ""))
