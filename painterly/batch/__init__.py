"""``painterly batch``: many photos times many paintings on one network, with a manifest and resume.

- :mod:`~painterly.batch.plan`: the pictures to make, from files and folders;
- :mod:`~painterly.batch.manifest`: what was made (manifest.csv and manifest.json) and what to skip;
- :mod:`~painterly.batch.executor`: where pictures are computed (this process, or a Ray cluster:
  the backends of :mod:`painterly.runs`);
- :mod:`~painterly.batch.command`: the command line.
"""
