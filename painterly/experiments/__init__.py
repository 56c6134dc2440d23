"""Experiments: grids of stylisations from a TOML spec, with loss histories, figures and a report.

The pipeline, one module each: :mod:`~painterly.experiments.spec` (parse and check a spec),
:mod:`~painterly.experiments.grid` (plan the runs, each identified by a settings hash),
:mod:`~painterly.experiments.runner` (run them, skipping finished ones, optionally in parallel, on
the backends of :mod:`painterly.runs`),
:mod:`~painterly.experiments.store` (a run's files), :mod:`~painterly.experiments.metrics`
(spikes, evaluations to reach), :mod:`~painterly.experiments.results` (read back and measure),
:mod:`~painterly.experiments.figures` and :mod:`~painterly.experiments.report`.
``painterly experiment SPEC`` (:mod:`~painterly.experiments.command`) does all of it.
"""
