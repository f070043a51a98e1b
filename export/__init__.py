"""Shipping ALBERT: SavedModels for TF Serving, its client, TFLite, predict.

See README.md ("Deployment") for the commands. Modules:

- `saved_model`: `export_saved_model` and `python -m export.saved_model`.
- `serving_signatures`: the string-in serving functions of every task.
- `warmup`: TF Serving warmup requests.
- `serving_client`: `ServingClient` for TF Serving's gRPC and REST APIs.
- `tflite`: conversion and quantization, `python -m export.tflite`.
- `verify`: accuracy, error, size and latency of exported models.
- `predict`: `python -m export.predict` on a SavedModel or `.tflite`.
"""

import keras_albert_cli

# Before any program module imports TensorFlow (see keras_albert_cli).
keras_albert_cli.start_tensorflow()
