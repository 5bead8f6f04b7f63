"""Latest-value channels between processes: the writer never waits, readers get the newest record.

``LatestChannel`` (shared memory, one machine) and the Ray mailbox in ``rt_avg.actors.mailbox``
(across machines) implement the same ``LatestWriter``/``LatestReader`` protocols.
See docs/channels.md for the design, the memory-ordering argument and the lifecycle rules.
"""

from rt_avg.realtime.channels.latest import ChannelSpec, LatestChannel
from rt_avg.realtime.channels.protocol import ChannelError, LatestReader, LatestWriter, ReaderSpec, Record
from rt_avg.realtime.channels.record import record_dtype, transition_dtype, weights_dtype
from rt_avg.realtime.channels.segment import cleanup_stale, list_segments

__all__ = [
    "ChannelError",
    "ChannelSpec",
    "LatestChannel",
    "LatestReader",
    "LatestWriter",
    "ReaderSpec",
    "Record",
    "cleanup_stale",
    "list_segments",
    "record_dtype",
    "transition_dtype",
    "weights_dtype",
]
