"""The service a host creates once per store: :class:`TrustOffice`, the trust's central office
through which every change passes, one unit of work per call, with the access index kept
current by itself (:class:`LiveIndex`). See ``docs/service.md``."""

from __future__ import annotations

from schoolsync.service._live import ACCESS_LOCK, KEEP_VERSIONS, LiveIndex
from schoolsync.service._office import SIGN_UP_MESSAGE, NewUser, TrustOffice

__all__ = ["ACCESS_LOCK", "KEEP_VERSIONS", "SIGN_UP_MESSAGE", "LiveIndex", "NewUser", "TrustOffice"]
