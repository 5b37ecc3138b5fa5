"""Self-supervised motion magnification (Pan, Geng & Owens 2023; METHOD.md section 1).

Modules: :mod:`.model` (the generator :class:`Magnifier` and alpha encoding),
:mod:`.losses` (magnification and colour losses through a frozen flow
estimator), :mod:`.data` (training pairs), :mod:`.train` (``vibmag train``),
:mod:`.adapt` (test-time adaptation) and :mod:`.infer` (loading the shipped
weights, magnifying pairs and batches, region alpha maps).
"""

from .adapt import adapt
from .infer import ModelFileError, alpha_map, default_weights_path, load_model, magnify_frames, magnify_pair, resolve_flow
from .losses import FlowMagLoss, color_loss, magnification_loss
from .model import Magnifier, alpha_encoding

__all__ = [
    "Magnifier",
    "alpha_encoding",
    "load_model",
    "adapt",
    "magnify_pair",
    "magnify_frames",
    "alpha_map",
    "default_weights_path",
    "resolve_flow",
    "ModelFileError",
    "FlowMagLoss",
    "magnification_loss",
    "color_loss",
]
