"""Storage adapters: :class:`SqliteStore` (the embedded default) and :class:`PostgresStore`.

``schoolsync.storage.codec`` and ``schoolsync.storage.migrations`` hold what both share: the
record tables, the JSON record codec and the versioned schema. :class:`PostgresStore` needs the
``postgres`` extra (psycopg 3), imported only when a store is opened.
"""

from schoolsync.storage.postgres import PostgresStore
from schoolsync.storage.sqlite import SqliteStore

__all__ = ["PostgresStore", "SqliteStore"]
