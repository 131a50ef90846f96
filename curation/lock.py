"""One curation action at a time on a dataset, across processes and machines: a lease kept in MongoDB.

The lock is one document in FiftyOne's execution-store collection (store ``drawnet_curation_log``,
key ``lock``, scoped to the dataset), taken with an insert that the collection's unique index
lets only one process win. Its holder names itself (host, pid, process start) and holds a
lease of ``LEASE`` seconds, renewed at each step of its action. A waiting process takes the
lock over when its holder is dead: at once when the holder ran on this machine and its
process is gone (a kill -9), otherwise when the lease ran out (the holder's machine is down
or cut off; machines' clocks are assumed to agree within seconds). Whoever takes it over
finishes the dead holder's pending record first (``curation.log.CurationLog.recover``).
"""
from __future__ import annotations

import logging
import random
import time
import uuid
from datetime import datetime, timezone

from .curators import alive, this_process

logger = logging.getLogger(__name__)
KEY = "lock"
LEASE = 120.0  # seconds a holder may go without renewing
WAIT = 120.0  # seconds an action waits for the lock before it gives up


class CurationBusy(RuntimeError):
    """Another live curator has held the dataset's lock for longer than this process would wait."""


def utcnow() -> datetime:
    """Now in UTC, naive, as pymongo stores and returns dates."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _doc(query: dict, value: dict) -> dict:
    now = utcnow()
    return {**query, "key": KEY, "value": value, "created_at": now, "updated_at": now, "expires_at": None,
            "policy": "persist"}


class CurationLock:
    """``with CurationLock(collection, {"store_name": ..., "dataset_id": ...}):`` one action at a time.

    ``taken_over`` is the dead holder's value when this process broke its lock, else None.
    """

    def __init__(self, collection, scope: dict, *, lease: float = LEASE, wait: float = WAIT):
        self.collection, self.scope, self.lease, self.wait = collection, dict(scope), lease, wait
        self.token: str | None = None
        self.taken_over: dict | None = None

    @property
    def _query(self) -> dict:
        return {**self.scope, "key": KEY}

    def _value(self) -> dict:
        return {"token": self.token, **this_process(), "since": time.time(), "until": time.time() + self.lease}

    def acquire(self) -> CurationLock:
        from pymongo.errors import DuplicateKeyError

        self.token, self.taken_over = uuid.uuid4().hex, None
        deadline, pause = time.monotonic() + self.wait, 0.002
        while True:
            try:
                self.collection.insert_one(_doc(self.scope, self._value()))
                return self
            except DuplicateKeyError:
                pass
            held = self.collection.find_one(self._query, {"value": 1})
            holder = (held or {}).get("value") or {}
            if held and self._stale(holder) and self._take_over(holder):
                return self
            if time.monotonic() > deadline:
                raise CurationBusy(f"the dataset is being curated by pid {holder.get('pid')} on {holder.get('host')} "
                                   f"(lock held for {time.time() - holder.get('since', time.time()):.0f} s); "
                                   f"try again in a moment")
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, 0.05)

    def _stale(self, holder: dict) -> bool:
        state = alive(holder)
        return state is False or (state is None and holder.get("until", 0) < time.time())

    def _take_over(self, holder: dict) -> bool:
        """Replace a dead holder's lock with ours, if no one else did first."""
        got = self.collection.update_one({**self._query, "value.token": holder.get("token")},
                                         {"$set": {"value": self._value(),
                                                   "updated_at": utcnow()}})
        if got.modified_count:
            self.taken_over = holder
            logger.warning("took over the curation lock of pid %s on %s, which is %s", holder.get("pid"),
                           holder.get("host"), "gone" if alive(holder) is False else "silent past its lease")
            return True
        return False

    def renew(self) -> None:
        """Push the lease on; an error if the lock is no longer ours (it was taken over while we stalled)."""
        got = self.collection.update_one({**self._query, "value.token": self.token},
                                         {"$set": {"value.until": time.time() + self.lease}})
        if not got.matched_count:
            raise CurationBusy("this process lost the dataset's curation lock (it stalled past its lease)")

    def release(self) -> None:
        if self.token:
            self.collection.delete_one({**self._query, "value.token": self.token})
            self.token = None

    def __enter__(self) -> CurationLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
