"""Exports of a dataset version in the formats training code reads; one module per format."""
