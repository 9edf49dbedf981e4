"""Benchmarks of mriunlearn (``make bench`` = ``python -m benchmarks``): training throughput with an
ablation against the authors' loop (:mod:`.throughput`), bf16 vs fp32 accuracy (:mod:`.precision`),
the data path (:mod:`.datapath`), unlearning cost vs retraining (:mod:`.unlearning_cost`),
``make reproduce`` end to end (:mod:`.e2e`, on request) and a CUDA smoke run (:mod:`.gpu_smoke`).
Timing comparisons are interleaved side by side (:mod:`.common`); results go to ``results/``."""
