"""The paper's experiments as functions, one module per notebook (notebooks only orchestrate and plot).

- :mod:`.study`: the :class:`~.study.Study` (profile, manifest, run cache, G and Ĝ), ``load_study``,
  the checks of notebook parameters and the records of every sampled choice;
- :mod:`.results`: tables several notebooks share (per-volume metrics, seed summaries, paired
  differences, hallucination scores);
- :mod:`.data_overlap` (notebook 01), :mod:`.hallucinations` (02), :mod:`.unlearning` and
  :mod:`.noise_sweep` (03), :mod:`.retain_fraction` (04): exactly what each notebook calls.

Nothing here draws: figures are :mod:`mriunlearn.plots`' job.
"""
