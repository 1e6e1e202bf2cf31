"""Reference generators (architectures, checkpoint format, training recipes).

Filled in by the generators issue; image sources already accept any object with
``sample(n, generator)`` and ``output_range`` (see :class:`gan_eval.sources.SampleableGenerator`).
"""
