"""hashattack: targeted adversarial attacks on deep-hashing retrieval.

Implements DHTA (Bai et al., "Targeted Attack for Deep Hashing based Retrieval", ECCV 2020),
its baselines, the hashing models it attacks and the t-MAP / MAP evaluation.
"""

__version__ = "0.1.0"
