"""Reference generators: architectures, the checkpoint format, training recipes.

Installed as ``gan_eval.generators``. The evaluation core never imports this package: checkpoints
reach it through the source resolver that :mod:`gan_eval.generators.plugin` registers from the
``gan_eval.generators`` entry point, and the core's workflows use any generator through the protocol in
:mod:`gan_eval.models`, which :class:`gan_eval.generators.model.GeneratorHandle` implements.
"""
