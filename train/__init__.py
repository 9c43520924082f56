"""Training: data sources, tf.data pipelines, registered Keras models and `fit` with callbacks.

Importing this package does not import TensorFlow; `edgeae.core.data` (and what it uses)
needs only numpy and OpenCV, the rest imports TensorFlow when first used.
"""
