"""Fine-tuning programs: file formats -> tf.data -> `model.fit` -> metrics -> prediction files.

Each program is an absl app run as a module, e.g.
`python -m tasks.run_classifier --task_name sst-2 --data_dir ...`; the flags
and helpers they share live in `tasks.common`.
"""

import keras_albert_cli

# Before any program module imports TensorFlow (see keras_albert_cli).
keras_albert_cli.start_tensorflow()
