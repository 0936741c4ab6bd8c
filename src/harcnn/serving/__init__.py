"""Serving: trained models put to use. Saved models (:mod:`.artifact`), training one model to serve
(:mod:`.train`), prediction on windows, datasets and recordings (:mod:`.predict`) and its result
(:mod:`.prediction`), streaming (:mod:`.streaming`), timelines (:mod:`.timeline`: smoothing and scores),
ONNX export (:mod:`.export`), latency (:mod:`.latency`) and the scikit-learn estimator (:mod:`.estimator`).

Nothing is imported here, so that ``harcnn.serving.timeline`` (pure numpy) loads without torch.
"""
