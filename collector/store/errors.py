"""Errors of the review store whose message is meant for the user (web, API, CLI)."""

from __future__ import annotations


class ReviewError(ValueError):
    """A review request that cannot be carried out (message is for the user)."""


class UnknownSample(ReviewError):
    """A decision names a sample the store does not hold."""
