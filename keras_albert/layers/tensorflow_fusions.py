"""The block's training work in the graph shapes TensorFlow runs fast.

TensorFlow without XLA runs the tanh GELU and LayerNorm as chains of small
element-wise kernels, each a pass over the activations (in bf16 each one
also converting to float32 and back), and the backward chains are longer.
Its oneDNN rewrite fuses a `MatMul` with the bias after it into one
`inner_product`, which on AMX runs at about half the rate of a plain
`MatMul` (oneDNN's `brg_matmul`). On an ALBERT-base 8 x 128 bf16 train step
(2-core Xeon with AMX) the GELUs took 150 of 852 ms, the LayerNorms 78, and
the fused forward matmuls 171 against 189 for the plain backward ones, twice
the work. Compiling the whole model with XLA is no cure on a CPU: XLA:CPU's
matmuls do not use the bf16 instructions oneDNN's do (`bench.matmul_peak`).

So in training the block's projections become plain `MatMul`s, and what
follows each is one XLA-compiled kernel forward and one backward, its
derivative written out: bias + tanh GELU after the FFN's first projection,
bias + residual + LayerNorm after the attention output and the FFN output
(without dropout). They compute in float32 what the inference path
computes, and return the input's dtype. Inference is left to oneDNN, which
fuses each Dense's matmul, bias and GELU, and exported graphs carry no XLA
call. JAX compiles the whole step and so fuses all of this already; PyTorch
runs the plain layers.
"""

import math

import keras
from keras import ops

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_CUBIC = 0.044715


def _row_axes(x):
    return tuple(range(len(x.shape) - 1))


def _sum(x, *more):
    """`x + more...` in float32 (the LayerNorm input of the residual kernels)."""
    total = ops.cast(x, "float32")
    for term in more:
        total = total + ops.cast(term, "float32")
    return total


def tanh_gelu_float32(x):
    """`0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` in float32, and the tanh."""
    x = ops.cast(x, "float32")
    tanh = ops.tanh(_SQRT_2_OVER_PI * (x + _CUBIC * x * x * x))
    return 0.5 * x * (1.0 + tanh), tanh


def _bias_tanh_gelu(x, bias):
    return ops.cast(tanh_gelu_float32(_sum(x, bias))[0], x.dtype)


def _bias_tanh_gelu_gradient(x, bias, upstream):
    """The gradients for `x` and `bias` of `gelu(x + bias)`, the derivative written out."""
    x32 = _sum(x, bias)
    _, tanh = tanh_gelu_float32(x32)
    slope = 0.5 * (1.0 + tanh) + 0.5 * x32 * (1.0 - tanh * tanh) * _SQRT_2_OVER_PI * (
        1.0 + 3.0 * _CUBIC * x32 * x32
    )
    gradient = ops.cast(upstream, "float32") * slope
    return ops.cast(gradient, x.dtype), ops.cast(ops.sum(gradient, axis=_row_axes(x)), bias.dtype)


def centered_layer_norm(x, gamma, beta, epsilon):
    """LayerNorm over the last axis in at least float32, the variance as
    `mean((x - mean)^2)`; returns `(output, x - mean, 1 / std)`."""
    if keras.backend.standardize_dtype(x.dtype) in ("float16", "bfloat16"):
        x = ops.cast(x, "float32")
    centered = x - ops.mean(x, axis=-1, keepdims=True)
    # `centered * centered`: TFLite's converter fuses `square(x - mean)` back into SquaredDifference.
    inverse_std = ops.rsqrt(ops.mean(centered * centered, axis=-1, keepdims=True) + epsilon)
    scale = inverse_std * ops.cast(gamma, x.dtype)
    return centered * scale + ops.cast(beta, x.dtype), centered, inverse_std


def _layer_norm(epsilon, x, gamma, beta, *more):
    """`LayerNorm(x + more...)` in `x`'s dtype."""
    return ops.cast(centered_layer_norm(_sum(x, *more), gamma, beta, epsilon)[0], x.dtype)


def _layer_norm_gradient(epsilon, upstream, x, gamma, beta, *more):
    """The gradients of `LayerNorm(x + more...)` for `x`, `gamma`, `beta` and
    each of `more` (a bias vector's summed over the rows)."""
    _, centered, inverse_std = centered_layer_norm(_sum(x, *more), gamma, beta, epsilon)
    normalized = centered * inverse_std
    upstream = ops.cast(upstream, "float32")
    scaled = upstream * ops.cast(gamma, "float32")
    x_gradient = inverse_std * (
        scaled
        - ops.mean(scaled, axis=-1, keepdims=True)
        - normalized * ops.mean(scaled * normalized, axis=-1, keepdims=True)
    )
    rows = _row_axes(x)
    more_gradients = [
        ops.cast(ops.sum(x_gradient, axis=rows) if len(term.shape) == 1 else x_gradient, term.dtype)
        for term in more
    ]
    return (
        ops.cast(x_gradient, x.dtype),
        ops.cast(ops.sum(upstream * normalized, axis=rows), gamma.dtype),
        ops.cast(ops.sum(upstream, axis=rows), beta.dtype),
        *more_gradients,
    )


_compiled = {}


def _compile(function):
    import tensorflow as tf  # only reached on the TensorFlow backend

    if function not in _compiled:
        _compiled[function] = tf.function(function, jit_compile=True, autograph=False)
    return _compiled[function]


def _tensor(variable):
    """A variable's value: a custom gradient that read variables itself would
    have to return their gradients separately."""
    import tensorflow as tf

    return tf.convert_to_tensor(variable)


def on_tensorflow():
    return keras.backend.backend() == "tensorflow"


def fuses(dense):
    """Whether `matmul` and a kernel adding `dense.bias` can stand for
    `dense`'s own call: on TensorFlow, unless it is quantized or has LoRA
    (its `call` knows those)."""
    return on_tensorflow() and dense.quantization_mode is None and not dense.lora_enabled and dense.use_bias


def matmul(dense, inputs):
    """`inputs @ dense.kernel`, without the bias (which the kernel after it adds)."""
    import tensorflow as tf

    with keras.name_scope(dense.name):
        return tf.matmul(inputs, ops.cast(dense.kernel, inputs.dtype))


def bias_tanh_gelu(x, bias):
    """`gelu_approximate(x + bias)` for training, one compiled kernel each way."""
    forward, backward = _compile(_bias_tanh_gelu), _compile(_bias_tanh_gelu_gradient)

    @ops.custom_gradient
    def function(x, bias):
        def gradient(upstream):
            with keras.name_scope("Gelu_gradient"):
                return backward(x, bias, upstream)

        return forward(x, bias), gradient

    # The scopes name the calls in TensorFlow's profiler (`bench.tf_profile`).
    with keras.name_scope("Gelu"):
        return function(x, _tensor(bias))


def layer_norm(x, gamma, beta, *more, epsilon):
    """`LayerNorm(x + more...)` for training, one compiled kernel each way;
    `more` are tensors of `x`'s shape or bias vectors."""
    forward, backward = _compile(_layer_norm), _compile(_layer_norm_gradient)

    @ops.custom_gradient
    def function(x, gamma, beta, *more):
        def gradient(upstream):
            with keras.name_scope("layer_norm_gradient"):
                return backward(epsilon, upstream, x, gamma, beta, *more)

        return forward(epsilon, x, gamma, beta, *more), gradient

    with keras.name_scope("layer_norm"):
        return function(x, _tensor(gamma), _tensor(beta), *(_tensor(term) for term in more))
