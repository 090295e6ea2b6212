"""Kernel patch workbench: prototype a kernel patch in several variants and compare them for real."""

__version__ = "0.1.0"
