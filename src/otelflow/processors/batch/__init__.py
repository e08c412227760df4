"""The ``batch`` processor: gathers requests into batches of ``send_batch_size`` items (spans, metric
data points, log records), sends on size or on ``timeout``, splits at ``send_batch_max_size``.

Behaviour follows upstream's batchprocessor (v0.161):

* ``consume`` returns as soon as the request is part of a pending batch; exports run in a background
  task per batch (per shard when ``metadata_keys`` is set), and their errors are logged and counted,
  never returned to the caller.
* Where batch boundaries fall is decided at the moment data is added, as upstream's single batching
  goroutine decides it: add the request, then cut a batch while at least ``send_batch_size`` items
  wait (cut at ``send_batch_max_size`` when set). A timer, reset whenever a batch is cut for size,
  sends whatever waits every ``timeout``. With ``timeout: 0`` or ``send_batch_size: 0`` every
  request is sent at once, split only by ``send_batch_max_size``.
* Splitting takes the first N items in resource/scope order: whole resources and scopes while they
  fit, then part of the scope (for metrics: part of the metric's data points) that straddles the
  boundary, under a copy of its resource and scope headers. A metric split this way keeps name,
  description, unit, type, temporality and monotonicity in the part sent; like upstream, that part
  does not carry the metric's ``metadata``.

Data stays in protobuf: pending requests are kept as received (this processor owns what it is given,
``mutates_data`` is True as upstream declares) and joined by C deep copies of their resources when
a batch is cut; resource, scope and item lists are only walked where a boundary falls inside a request.
When every pending request still has the bytes it came in (``core/client.py``: nothing before the
batch changed it in place) and the next component is a protobuf exporter, a batch of whole requests
goes out as those bytes joined: an export request is a list of resources, so the joined encodings
are the joined requests, and nothing is copied or encoded.

``metadata_keys``: the batcher reads ``otelflow.core.client.client_metadata`` (re-exported here; a
mapping of key to a list of values, keys matched case-insensitively), which receivers set with
``include_metadata: true``. Each shard's exports run with
``client_metadata`` set to that shard's values, as upstream puts them on the export context.
"""

from otelflow.core.component import Factory, Kind, STABLE_SIGNALS
from otelflow.processors.batch.config import TOO_MANY_BATCHERS, Config, client_metadata
from otelflow.processors.batch.processor import BatchProcessor
from otelflow.processors.batch.split import Splitter, split

__all__ = ["TOO_MANY_BATCHERS", "BatchProcessor", "Config", "Splitter", "client_metadata", "factory", "split"]


factory = Factory(
    type="batch",
    kind=Kind.PROCESSOR,
    config=Config,
    create=lambda settings, config, next: BatchProcessor(settings, config, next),
    signals=STABLE_SIGNALS,
    stability="beta",
)
