"""The learned music generators the composer is measured against; none of them is used by the product.

- ``generator.py`` + ``generator.pt``: an emotion-conditioned Transformer over REMI-like tokens (``tokens.py``,
  built on miditok's vocabulary), sampled bar by bar with the bar's emotion forced (``sampling.py``); trained by
  ``train_generator.py``; its card is ``generator.md``.
- ``rnn_gan.py``: the brief's two systems, an LSTM over the same tokens and a GAN over piano rolls; trained by
  ``train_rnn_gan.py`` (the weights are not kept: the command remakes them).

Their measured realism and emotion agreement, beside the composer's, are in ``benchmarks/RESULTS.md`` (pieces from
``benchmarks/baseline_pieces.py``, measured by ``benchmarks/music_eval.py``; ``benchmarks/results/
music_eval_{transformer,lstm,gan}.md``). ``generator.pt`` stays in the repository for these benchmarks and is not
installed with the package.
"""
