import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_albert
from keras_albert.training import Lamb, WarmupPolynomialDecay, create_optimizer

TINY = dict(
    vocabulary_size=60, num_layers=2, num_heads=2, embedding_dim=8, hidden_dim=16,
    intermediate_dim=32, max_sequence_length=16,
)


def tiny_classifier(seed=0):
    keras.utils.set_random_seed(seed)
    return keras_albert.AlbertTextClassifier(keras_albert.AlbertBackbone(**TINY), num_classes=2, dropout=0.0)


def tiny_data(num_examples=16, length=12):
    rng = np.random.default_rng(1)
    x = {
        "token_ids": rng.integers(5, 60, (num_examples, length)).astype("int32"),
        "segment_ids": np.zeros((num_examples, length), "int32"),
        "padding_mask": np.ones((num_examples, length), "int32"),
    }
    return x, rng.integers(0, 2, num_examples).astype("int32")


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_layer_norm_and_bias_variables_are_not_decayed(name):
    model = tiny_classifier()
    optimizer = create_optimizer(name, learning_rate=0.1, num_train_steps=10, weight_decay_rate=0.5)
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    # Zero gradients: only weight decay moves a variable.
    optimizer.apply([np.zeros(v.shape, "float32") for v in model.trainable_variables], model.trainable_variables)
    for variable in model.trainable_variables:
        changed = not np.allclose(variable.numpy(), before[variable.path])
        excluded = any(p in variable.path for p in ("layer_norm", "bias"))
        assert changed != excluded, variable.path
    assert any("layer_norm/gamma" in v.path for v in model.trainable_variables)
    assert any(v.path.endswith("qkv_dense/bias") for v in model.trainable_variables)


def test_lamb_puts_weight_decay_inside_the_trust_ratio():
    variable = keras.Variable(np.array([[3.0, 4.0]], "float32"), name="kernel")
    bias = keras.Variable(np.array([1.0, -1.0], "float32"), name="bias")
    optimizer = Lamb(learning_rate=0.1, weight_decay=0.5, epsilon=0.0, weight_decay_exclusions=["bias"])
    gradient = np.array([[1.0, -2.0]], "float32")
    optimizer.apply([gradient, np.array([2.0, 2.0], "float32")], [variable, bias])
    # First step: bias-corrected m/sqrt(v) is sign(g); decay joins before the ratio.
    w = np.array([[3.0, 4.0]])
    update = np.sign(gradient) + 0.5 * w
    expected = w - np.linalg.norm(w) / np.linalg.norm(update) * 0.1 * update
    np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5)
    # Excluded from decay: no decay and no layer adaptation (ratio 1).
    np.testing.assert_allclose(bias.numpy(), [1.0 - 0.1, -1.0 - 0.1], rtol=1e-5)


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_optimizer_round_trips_through_keras_serialization(name):
    optimizer = create_optimizer(name, 1e-3, num_train_steps=100, num_warmup_steps=10, clipnorm=0.5)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is type(optimizer)
    assert restored.weight_decay_exclusions == ["layer_norm", "LayerNorm", "bias"]
    assert restored.global_clipnorm == 0.5
    assert restored.epsilon == 1e-6
    assert isinstance(restored._learning_rate, WarmupPolynomialDecay)
    assert restored._learning_rate.get_config() == optimizer._learning_rate.get_config()


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_sparse_gradient_with_repeated_ids_updates_like_its_dense_sum(name):
    import tensorflow as tf

    table = {k: keras.Variable(np.ones((3, 2), "float32"), name="embeddings") for k in ("sparse", "dense")}
    sparse = tf.IndexedSlices(tf.constant([[1.0, 2.0], [3.0, -1.0]]), tf.constant([1, 1]), tf.constant([3, 2]))
    for kind, gradient in (("sparse", sparse), ("dense", tf.convert_to_tensor(sparse))):
        optimizer = create_optimizer(name, 0.1, num_train_steps=10, clipnorm=None)
        optimizer.apply([gradient], [table[kind]])
    np.testing.assert_allclose(table["sparse"].numpy(), table["dense"].numpy(), rtol=1e-6)
    assert not np.allclose(table["dense"].numpy()[1], 1.0)


def test_unknown_optimizer_name_and_bad_step_counts_raise():
    with pytest.raises(ValueError, match="sgd"):
        create_optimizer("sgd", 1e-3, num_train_steps=10)
    with pytest.raises(ValueError, match="num_train_steps"):
        create_optimizer("adamw", 1e-3, num_train_steps=0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        create_optimizer("adamw", 1e-3, num_train_steps=10, gradient_accumulation_steps=0)


def train(model, batch_size, accumulation, name, x, y, num_updates):
    optimizer = create_optimizer(
        name, 5e-3, num_train_steps=num_updates, num_warmup_steps=1, clipnorm=0.05,
        gradient_accumulation_steps=accumulation,
    )
    # Eager: the same optimizer math at a fraction of the tracing cost.
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), run_eagerly=True
    )
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return optimizer


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_accumulating_micro_batches_equals_one_big_batch(name):
    x, y = tiny_data(16)
    big = tiny_classifier()
    accumulated = tiny_classifier()
    accumulated.set_weights(big.get_weights())
    initial = big.get_weights()
    big_optimizer = train(big, 8, None, name, x, y, num_updates=2)
    acc_optimizer = train(accumulated, 4, 2, name, x, y, num_updates=2)
    assert int(big_optimizer.iterations) == int(acc_optimizer.iterations) == 2
    moved = max(np.abs(a - b).max() for a, b in zip(big.get_weights(), initial))
    assert moved > 1e-3  # Training happened (and the clip at 0.05 was active).
    for a, b in zip(big.get_weights(), accumulated.get_weights()):
        np.testing.assert_allclose(a, b, atol=2e-6)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
    import keras
    sys.path.insert(0, sys.argv[1])
    from test_optimizers import tiny_classifier, tiny_data
    from keras_albert.training import create_optimizer, get_strategy

    x, y = tiny_data(16)
    weights = {}
    for name in ("one_device", "mirrored"):
        strategy = get_strategy(name)
        with strategy.scope():
            model = tiny_classifier()
            model.compile(
                optimizer=create_optimizer("adamw", 5e-3, num_train_steps=2, clipnorm=0.05),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                run_eagerly=True,
            )
        model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0)
        weights[name] = (strategy.num_replicas_in_sync, model.get_weights())
    assert weights["mirrored"][0] == 2, weights["mirrored"][0]
    diff = max(np.abs(a - b).max() for a, b in zip(weights["one_device"][1], weights["mirrored"][1]))
    print("MAX_DIFF", diff)
    """
)


def test_global_norm_clip_applies_to_the_gradient_summed_over_replicas():
    # Logical CPU devices must be set before TensorFlow initializes: own process.
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, os.path.dirname(__file__)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    diff = float(result.stdout.split("MAX_DIFF")[1])
    # Same global batch and clip: equal up to float32 summation order.
    assert diff < 2e-6
