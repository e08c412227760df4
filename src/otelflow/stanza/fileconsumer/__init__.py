"""otelflow's equivalent of upstream's pkg/stanza/fileconsumer: finding, fingerprinting, splitting
and reading files, with rotation tracked by fingerprint."""

from otelflow.stanza.fileconsumer.finder import Finder
from otelflow.stanza.fileconsumer.manager import PollPlan, Tracker
from otelflow.stanza.fileconsumer.reader import Batch, FileReader
from otelflow.stanza.fileconsumer.split import Splitter, trimmer

__all__ = ["Batch", "FileReader", "Finder", "PollPlan", "Splitter", "Tracker", "trimmer"]
