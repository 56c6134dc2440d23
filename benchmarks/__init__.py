"""Time painterly against a plain reference loop and compare the pictures' losses.

    python -m benchmarks            # CPU: 256 to 1024 px (reference to 512); GPU: 256 to 4096 px
    python -m benchmarks --quick    # 256 px, 50 evaluations: a smoke run of a minute or two

For every size it runs, each in a fresh process (so that peak memory is per run):

- **painterly** with its defaults (coarse-to-fine scales, automatic precision, channels_last, ...),
  through :func:`painterly.stylize`;
- **reference**, the classic way (:mod:`benchmarks.reference`): one scale, float32, no
  channels_last, plain ``torch.optim.LBFGS`` with a strong-Wolfe line search on painterly's own
  :class:`~painterly.objective.Objective` (same network, layers, weights and terms) and the same
  budget of objective evaluations; it keeps its lowest-loss image, as painterly does.

Both final pictures are then scored the same way: one more forward pass at the final size, with
the same network in float32 (no TF32), gives the content and style losses in the table. Also:
painterly with ``--precision bf16`` against ``fp32`` at one size, to show what bf16 costs in loss.

Timing: "s/eval" is the mean time between consecutive evaluations at the final scale; "end to
end" runs from the call with the two image paths (weights read from disk included) to the final
image. On a GPU every run is preceded by a short warm-up run of the same shapes in the same
process (cuDNN autotuning, torch.compile), and peak memory is ``torch.cuda.max_memory_allocated``
after it; on the CPU peak memory is the growth of the process's peak resident set size over the
run. Results go to a table on stdout and to JSON (``--out``).

Modules: :mod:`~benchmarks.reference` (the reference loop), :mod:`~benchmarks.measure` (one
measured run in its own process), :mod:`~benchmarks.report` (ratios, the precision check, the
table and the JSON), :mod:`~benchmarks.cli` (arguments and the whole benchmark).
"""
