"""Composio's own client drives authlink's webhook_subscriptions: the `composio_client` that
`composio` 0.30.0 installs (2.0.0rc19, whose `webhook_subscriptions` resource validates every
response against Composio's models) creates, retrieves, updates, lists, rotates and deletes a
subscription and lists the event types.

    python client_check.py BASE_URL API_KEY RECEIVER_URL
"""

import sys

from composio_client import Composio
from composio_client._auth import ProjectAuth
from composio_client._exceptions import NotFoundError

base, key, url = sys.argv[1], sys.argv[2], sys.argv[3]
client = Composio(auth=ProjectAuth(credential=key), base_url=base, max_retries=0)
subs = client.webhook_subscriptions

types = subs.list_event_types()
names = [t.event_type for t in types.items]
assert "composio.connected_account.expired" in names and len(names) == 10, names
assert all(t.supported_versions for t in types.items)

created = subs.create(webhook_url=url, enabled_events=["composio.connected_account.active"], version="V3")
assert created.id.startswith("ws_") and created.webhook_url == url and created.secret, created
assert created.enabled_events == ["composio.connected_account.active"]
got = subs.retrieve(created.id)
assert got.secret == created.secret and str(getattr(got.version, "value", got.version)) == "V3", got
updated = subs.update(created.id, enabled_events=["composio.connected_account.expired", "composio.connected_account.active"])
assert updated.enabled_events == ["composio.connected_account.expired", "composio.connected_account.active"], updated
listed = subs.list(limit=50)
assert created.id in [s.id for s in listed.items] and listed.total_items >= 1, listed
rotated = subs.rotate_secret(created.id)
assert rotated.id == created.id and rotated.secret != created.secret, rotated
assert subs.delete(created.id).success is True
try:
    subs.retrieve(created.id)
    raise AssertionError("a deleted subscription was still found")
except NotFoundError:
    pass
print("composio_client webhook_subscriptions: ok")
