"""How a picture gets computed, whichever front end asked for it: the one runs layer.

The command line (``painterly``), ``painterly batch``, ``painterly experiment``, ``painterly video``
and the studio's worker all load networks, run pictures here or elsewhere, stop on Ctrl-C and
report progress. Each of those concerns has one module here, so the front ends stay thin drivers
and cannot drift apart:

- :mod:`~painterly.runs.networks`: which options decide a network (its key) and the cache that
  keeps built networks for the runs that can share them;
- :mod:`~painterly.runs.outcome`: what a backend hands back per item (a value, or why it failed);
- :mod:`~painterly.runs.local`, :mod:`~painterly.runs.pool`, :mod:`~painterly.runs.ray`: the
  execution backends (this process, worker processes, a Ray cluster);
- :mod:`~painterly.runs.exits`: the exit statuses and the "interrupted" message, one policy;
- :mod:`~painterly.runs.eta` and :mod:`~painterly.runs.progress`: the ETA and the terminal
  progress plumbing (tqdm bars or plain lines) the front ends' progress classes build on.

Nothing here is imported by ``painterly.runs`` itself, and :mod:`~painterly.runs.exits` imports
nothing heavy, so the command line can read its exit statuses before PyTorch loads.
"""
