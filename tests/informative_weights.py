"""Informative weights for parity tests: every tensor changes the output.

Default initializations hide bugs: with kernels N(0, 0.02) attention is
nearly uniform and the FFN terms tiny, zero biases and unit LayerNorm gammas
make a swapped or mis-split bias or LayerNorm parameter invisible. These
helpers give every tensor of a Keras model or a PyTorch model a value at a
scale where each component moves the output well above float32 noise:

- kernels and embedding tables ~ N(0, 0.2);
- biases (and LayerNorm betas) ~ N(0, 0.2), so non-zero;
- LayerNorm gammas 1 +/- U(0.2, 0.5), so away from 1 in both directions.

Both helpers draw from NumPy with a seed, so a test gets the same weights on
every machine. Usage::

    from informative_weights import randomize_keras_weights, randomize_torch_weights

    randomize_keras_weights(keras_model, seed=0)
    randomize_torch_weights(hf_model, seed=0)
"""

import re

import numpy as np

KERNEL_STDDEV = 0.2
BIAS_STDDEV = 0.2
GAMMA_OFFSET_RANGE = (0.2, 0.5)


def informative_value(role, shape, rng):
    """A random array of `shape` for a tensor of `role` ("gamma", "beta",
    "bias" or "kernel"; embeddings count as kernels)."""
    if role == "gamma":
        sign = rng.choice([-1.0, 1.0], size=shape)
        return (1.0 + sign * rng.uniform(*GAMMA_OFFSET_RANGE, size=shape)).astype("float32")
    stddev = BIAS_STDDEV if role in ("beta", "bias") else KERNEL_STDDEV
    return (stddev * rng.standard_normal(shape)).astype("float32")


def _keras_role(path):
    name = path.rsplit("/", 1)[-1]
    return name if name in ("gamma", "beta", "bias") else "kernel"


def _path_without_name_counters(variable):
    # Keras numbers auto-named layers per process ("dense_3"), so the same
    # model built after other models has other paths: ordering by raw paths
    # made a test's weights depend on which tests ran before it.
    return re.sub(r"_\d+(?=/|$)", "", variable.path)


def randomize_keras_weights(model, seed=0):
    """Assigns informative values to every float weight of a Keras model.

    Works for keras-albert and keras-hub models alike (roles are read from
    the variable names: `gamma`, `beta`, `bias`, anything else a kernel or
    table). Integer variables (seed-generator states) are left alone. The
    values depend only on the model's architecture and `seed`, not on what
    the process built before. Returns `model`.
    """
    import keras

    rng = np.random.RandomState(seed)
    for variable in sorted(model.weights, key=_path_without_name_counters):
        if not keras.backend.is_float_dtype(variable.dtype):
            continue
        value = informative_value(_keras_role(variable.path), tuple(variable.shape), rng)
        variable.assign(value.astype(variable.dtype))
    return model


def randomize_torch_weights(model, seed=0):
    """Assigns informative values to every parameter of a PyTorch model.

    `torch.nn.LayerNorm` weights and biases are gammas and betas (whatever
    the module is called, e.g. HuggingFace's `full_layer_layer_norm`), other
    `bias` parameters are biases, the rest kernels or tables. Tied
    parameters stay tied (assigned in place, once). Returns `model`.
    """
    import torch

    roles = {}
    for module_name, module in model.named_modules():
        for parameter_name, parameter in module.named_parameters(recurse=False):
            if isinstance(module, torch.nn.LayerNorm):
                role = "gamma" if parameter_name == "weight" else "beta"
            else:
                role = "bias" if parameter_name == "bias" else "kernel"
            roles.setdefault(id(parameter), role)
    rng = np.random.RandomState(seed)
    with torch.no_grad():
        for _, parameter in sorted(model.named_parameters(), key=lambda item: item[0]):
            value = informative_value(roles[id(parameter)], tuple(parameter.shape), rng)
            parameter.copy_(torch.from_numpy(value))
    return model
