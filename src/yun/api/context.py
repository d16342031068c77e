"""What every API handler needs: settings, the store, blobs, logs, and a way to wake controllers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from yun.blobstore import BlobStore
from yun.logstore import LogStore
from yun.settings import Settings
from yun.store.bootstrap import Defaults
from yun.store.session import Store


@dataclass
class ApiContext:
    settings: Settings
    store: Store
    blobs: BlobStore
    logs: LogStore
    defaults: Defaults
    wake: Callable[[str], None]
    """Called with a controller key ("build:<guid>", "instances", "routes") after a write."""
