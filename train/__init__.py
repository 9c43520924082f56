"""Training: tf.data pipelines, registered Keras models, `fit` with callbacks, Keras as a backend.

Importing this package does not import TensorFlow; its modules import it when first used. The
data it trains on comes from the ground floor's TF-free sources (`edgeae.core.data`).
"""
