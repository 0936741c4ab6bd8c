"""Data: the UCI HAR dataset, window transforms, subject splits, and continuous recordings."""

from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.splits import subject_holdout
from harcnn.data.transforms import Standardizer, remove_overlap
from harcnn.data.uci_har import (
    CHANNEL_NAMES,
    CLASS_NAMES,
    UCI_HAR_URL,
    UCIHAR,
    Split,
    default_cache_dir,
    describe,
    download_uci_har,
    find_uci_har,
    load_uci_har,
)
from harcnn.data.windows import PreprocessConfig, StreamingWindower, preprocess, sliding_windows, stitch_windows

__all__ = [
    "CHANNEL_NAMES", "CLASS_NAMES", "PreprocessConfig", "Recording", "Split", "Standardizer", "StreamingWindower",
    "UCIHAR", "UCI_HAR_URL", "default_cache_dir", "describe", "download_uci_har", "find_uci_har",
    "load_recording", "load_uci_har", "preprocess", "recording_to_windows", "remove_overlap", "sliding_windows",
    "stitch_windows", "subject_holdout",
]
