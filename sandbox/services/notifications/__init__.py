"""ESPI notifications (ESPI.md 7): when data is published or uploaded, or an authorization is
granted, each third party concerned is sent one BatchList naming what to fetch.

`announce` decides what is announced to whom and writes it to the outbox (`outbox`) in the
change's own transaction; `delivery` POSTs it (`posting`), records every attempt and retries on
a schedule; `worker` runs both in the background of each server process.
"""
