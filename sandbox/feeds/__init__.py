"""What goes into ESPI documents: entries for usage data, customer (PII) data and management resources."""

from sandbox.feeds.usage import Urls, UsageFeed

__all__ = ["Urls", "UsageFeed"]
