"""painterly studio: a browser page on a local job server (``painterly serve``).

The server (:mod:`painterly.web.app`, its routes in :mod:`painterly.web.routes`) never runs a
stylisation itself: jobs live in folders (:mod:`painterly.web.store`) and run in worker processes
(:mod:`painterly.web.jobs`, :mod:`painterly.web.worker`), so a crash or an out-of-memory kill can
only fail the job it hit.
"""
