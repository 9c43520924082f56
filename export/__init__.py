"""Export: trained model directories -> edge artifacts, each checked for parity with Keras."""
