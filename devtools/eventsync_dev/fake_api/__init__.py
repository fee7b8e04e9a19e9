"""Fake Luma and Eventee HTTP APIs for tests, the demo and benchmarks (standard library only)."""

from .data import Dataset
from .faults import Faults
from .server import FakeApi

__all__ = ["Dataset", "FakeApi", "Faults"]
