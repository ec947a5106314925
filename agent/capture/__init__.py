"""Camera to ready sample: source -> detector -> tracker -> quality -> sampler -> crop -> prelabel,
run in that order by ``pipeline.py``."""
