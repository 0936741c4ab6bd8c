"""Reports: figures (:mod:`.plots`: box plots, histograms, learning curves, confusion matrices, architectures,
timelines) and HTML pages of study and search folders (:mod:`.html`, :mod:`.tune`), drawn from plain data
and result files; experiments call them, never the other way round."""
