"""The user.mkd.* names of a mkd-memfs mount and the parser of its summary line, for Python.

The owner of both is the C++ library memfs-protocol/ (names.h, summary.h); this module mirrors
them for the Python test helpers (mkdsys, tests/lab, tests/bench) and is checked against the
library by memfs_protocol_test.py (suite unit), so the two cannot drift apart.

    from mkdsys import memfs_protocol as mp
    mp.parse_summary(os.getxattr(path, mp.SUMMARY))["state"]
"""

from typing import Dict

PREFIX = "user.mkd."

SUMMARY = "user.mkd.summary"      # every node: one line of key=value
TABLE = "user.mkd.table"          # RAM file, chunked: the generation table
DIRTY = "user.mkd.dirty"          # ... chunked: pages written since the VM arrived
SYNCED = "user.mkd.synced"        # ... chunked: pages of the last sync
REUSABLE = "user.mkd.reusable"    # ... chunked: pages reusable against the peer table
DIGESTS = "user.mkd.digests"      # ... chunked: a digest of every page in the page store
SYNC = "user.mkd.sync"            # ... get: runs a dirty-log sync
TAKE = "user.mkd.take"            # ... get: a sync without the write-back
PEER_TABLE = "user.mkd.peer_table"  # ... set: chunk N of a peer's table (PEER_TABLE.N)
RECEIVE = "user.mkd.receive"      # ... set: a receive frame
WANTED = "user.mkd.wanted"        # ... get: post-copy pages reads wait for
POSTCOPY = "user.mkd.postcopy"    # ... get: post-copy statistics; set: {"fail": ...}
ARRIVE = "user.mkd.arrive"        # VM directory: {"epoch":E,"lineage":"<uuid>"}
COMMIT = "user.mkd.commit"        # ... the arrival commits
ABORT = "user.mkd.abort"          # ... the arrival aborts
ADVANCE = "user.mkd.advance"      # ... {"epoch":N}

CHUNKED = (TABLE, DIRTY, SYNCED, REUSABLE, DIGESTS)


class ProtocolError(ValueError):
    """A value the mount returned is not what memfs-protocol formats."""


def chunk_name(base: str, index: int) -> str:
    """Chunk `index` of a chunked value (or of the peer table): "<base>.<index>"."""
    return f"{base}.{index}"


def sync_name(consumer: str = "") -> str:
    """user.mkd.sync.<consumer> (user.mkd.sync without a consumer)."""
    return f"{SYNC}.{consumer}" if consumer else SYNC


def take_name(consumer: str = "") -> str:
    """user.mkd.take.<consumer> (user.mkd.take without a consumer)."""
    return f"{TAKE}.{consumer}" if consumer else TAKE


def synced_name(consumer: str = "") -> str:
    """user.mkd.synced.<consumer> (user.mkd.synced without a consumer)."""
    return f"{SYNCED}.{consumer}" if consumer else SYNCED


def parse_chunk_description(value: str) -> int:
    """The chunk count of a chunked value's description ("chunks=C bytes=B (read ...)")."""
    first = value.split(" ", 1)[0]
    key, _, count = first.partition("=")
    if key != "chunks" or not count.isdigit() or int(count) < 1 or count != str(int(count)):
        raise ProtocolError(f"not a chunked value's description: {value[:200]!r}")
    return int(count)


def parse_sync_reply(text) -> Dict[str, int]:
    """The value of user.mkd.sync[.C] ("dirty_pages=N epoch=E syncs=S [new=0|1]") as numbers
    (memfs_protocol::ParseSyncReply checks the same fields)."""
    fields = parse_summary(text)  # the same key=value line
    keys = list(fields)
    if keys not in (["dirty_pages", "epoch", "syncs"], ["dirty_pages", "epoch", "syncs", "new"]) \
            or not all(v.isdigit() for v in fields.values()):
        raise ProtocolError(f"{SYNC}: malformed reply {text!r}")
    return {k: int(v) for k, v in fields.items()}


def parse_summary(line) -> Dict[str, str]:
    """Any user.mkd.summary line (RAM file, VM directory, host; str or bytes) as a dict of its
    fields, in order. Every field must be key=value, separated by single spaces, keys non-empty
    and distinct, as memfs_protocol::ParseSummaryFields checks.
    """
    if isinstance(line, bytes):
        line = line.decode()
    fields: Dict[str, str] = {}
    for field in line.split(" "):
        key, eq, value = field.partition("=")
        if not eq or not key or key in fields:
            raise ProtocolError(f"{SUMMARY}: malformed field {field!r} in {line[:200]!r}")
        fields[key] = value
    return fields
