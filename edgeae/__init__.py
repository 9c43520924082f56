"""edgeae: train Keras autoencoders, export them for edge devices, run them on camera frames.

The stages live in `edgeae.train`, `edgeae.export` and `edgeae.runtime`. Importing this package
or the runtime never imports TensorFlow.
"""

__version__ = "0.1.0"
