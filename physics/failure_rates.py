"""GPU failure hazard priors: the fleet's base rate of GPU-attributed failures.

Meta's Llama 3 pre-training logged 268 GPU-attributed unexpected interruptions (of 419;
reference/data/gpu-failures.csv) on 16,384 H100s over 54 days. The GPU-attributed share is used,
not all causes (17%/GPU-year), because network, software and host faults do not need the GPU
serviced. They are interruptions, some cleared by a reset, so this leans high for replacements.
The simulator draws its faults at this rate; the failure-risk model starts from it.
"""

PRIOR_INTERRUPTIONS = 268
PRIOR_GPUS = 16_384
PRIOR_DAYS = 54
PRIOR_ANNUAL_RATE = PRIOR_INTERRUPTIONS / PRIOR_GPUS / PRIOR_DAYS * 365  # ≈ 0.111 per GPU-year
