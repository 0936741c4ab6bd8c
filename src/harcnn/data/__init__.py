"""Data: the UCI HAR dataset, window transforms and subject splits."""

from harcnn.data.splits import subject_holdout
from harcnn.data.transforms import Standardizer, remove_overlap
from harcnn.data.uci_har import (
    CHANNEL_NAMES,
    CLASS_NAMES,
    UCIHAR,
    Split,
    default_cache_dir,
    describe,
    download_uci_har,
    find_uci_har,
    load_uci_har,
)

__all__ = [
    "CHANNEL_NAMES", "CLASS_NAMES", "UCIHAR", "Split", "Standardizer", "default_cache_dir", "describe",
    "download_uci_har", "find_uci_har", "load_uci_har", "remove_overlap", "subject_holdout",
]
