"""Model builders, registered by name on import."""

from edgeae.train.models import conv, dense, draem, unet, vae  # noqa: F401  (registration side effect)
from edgeae.train.models.registry import (
    ModelConfig,
    create_model,
    get_entry,
    list_models,
    macs_per_pixel,
    make_config,
    register_model,
)

__all__ = ["ModelConfig", "create_model", "get_entry", "list_models", "macs_per_pixel",
           "make_config", "register_model"]
