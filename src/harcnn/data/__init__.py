"""Data: datasets of labelled windows (UCI HAR, HAPT, your recordings, window files), subject splits,
window transforms, and continuous recordings with their preprocessing."""

from harcnn.data.dataset import Dataset, InputSpec
from harcnn.data.hapt import HaptRecording, download_hapt, hapt_recordings, load_hapt
from harcnn.data.recordings import Recording, load_recording, recording_to_windows
from harcnn.data.sources import load_dataset, source_kinds
from harcnn.data.splits import Fold, Protocol, subject_holdout
from harcnn.data.transforms import Standardizer, remove_overlap
from harcnn.data.uci_har import UCI_HAR_URL, default_cache_dir, download_uci_har, find_uci_har, load_uci_har
from harcnn.data.windows import PreprocessConfig, StreamingWindower, preprocess, sliding_windows, stitch_windows

__all__ = [
    "Dataset", "Fold", "HaptRecording", "InputSpec", "PreprocessConfig", "Protocol", "Recording", "Standardizer",
    "StreamingWindower", "UCI_HAR_URL", "default_cache_dir", "download_hapt", "download_uci_har", "find_uci_har",
    "hapt_recordings", "load_dataset", "load_hapt", "load_recording", "load_uci_har", "preprocess",
    "recording_to_windows", "remove_overlap", "sliding_windows", "source_kinds", "stitch_windows", "subject_holdout",
]
