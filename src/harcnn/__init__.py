"""harcnn: human activity recognition from inertial signals with 1D convolutional networks."""

__version__ = "0.1.0"
