"""Activation functions used by ALBERT checkpoints, resolvable by name."""

import keras


@keras.saving.register_keras_serializable(package="keras_albert")
def gelu_approximate(x):
    """GELU with the tanh approximation, as in the original ALBERT code.

    The original `modeling.gelu` is `0.5 * x * (1 + tanh(sqrt(2 / pi) *
    (x + 0.044715 * x**3)))`; HuggingFace calls the same function `gelu_new`.
    """
    return keras.activations.gelu(x, approximate=True)


# Names used by the original repository, HuggingFace configs and Keras.
_TANH_GELU_NAMES = ("gelu_approximate", "gelu_new", "gelu_pytorch_tanh", "gelu_fast")


def get_activation(identifier):
    """Resolves an activation name or callable.

    `"gelu_approximate"` and HuggingFace's tanh-GELU names give the tanh
    approximation; `"gelu"` is the exact erf GELU (HuggingFace semantics);
    any other name is looked up in `keras.activations`.
    """
    if callable(identifier):
        return identifier
    if isinstance(identifier, dict):  # a serialized custom activation
        return keras.saving.deserialize_keras_object(identifier)
    if not isinstance(identifier, str):
        raise ValueError(
            f"`activation` must be a string or a callable. Received: "
            f"activation={identifier!r}"
        )
    if identifier in _TANH_GELU_NAMES:
        return gelu_approximate
    try:
        return keras.activations.get(identifier)
    except ValueError as error:
        raise ValueError(
            f"Unknown `activation`: {identifier!r}. Use one of "
            f"{_TANH_GELU_NAMES + ('gelu', 'relu', 'silu', 'tanh')} or a "
            "Keras activation name."
        ) from error


def kept_activation(identifier):
    """The activation a layer keeps, and its `get_config` gives back.

    A name stays as given: presets and the exporters read names. Anything
    else becomes its callable: a serialized one (the dict a `.keras` file or
    a preset's config holds for a callable activation) is deserialized, so a
    reloaded model holds the function it was built with.
    """
    return identifier if isinstance(identifier, str) else get_activation(identifier)


def activation_name(activation, names):
    """The name in `names` that `get_activation` resolves to the same
    function as `activation` (a name or a callable), else None."""
    function = get_activation(activation)
    return next((name for name in names if get_activation(name) is function), None)


def activation_description(activation):
    """An activation for an error message: a name as written, a function by its
    module path (`keras.ops.relu` is not the activation `relu`)."""
    if isinstance(activation, str):
        return repr(activation)
    return f"{getattr(activation, '__module__', '?')}.{getattr(activation, '__qualname__', repr(activation))}"
