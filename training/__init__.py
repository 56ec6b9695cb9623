"""Training side of mujo-edge (imported as `mujo_edge.training`): models, losses, pre-training, fine-tuning.

Everything here may import torch; the core and the on-device runtime never import this package.
"""
