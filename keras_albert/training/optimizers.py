"""`create_optimizer`: the optimizer of the ALBERT recipe in one call."""

from keras_albert.training.adamw import AdamW
from keras_albert.training.lamb import Lamb
from keras_albert.training.optimizer_mixin import DEFAULT_WEIGHT_DECAY_EXCLUSIONS
from keras_albert.training.schedules import WarmupPolynomialDecay

OPTIMIZER_CLASSES = {"adamw": AdamW, "lamb": Lamb}


def create_optimizer(
    name="adamw",
    learning_rate=5e-5,
    num_train_steps=None,
    num_warmup_steps=0,
    weight_decay_rate=0.01,
    end_learning_rate=0.0,
    power=1.0,
    clipnorm=1.0,
    gradient_accumulation_steps=None,
    weight_decay_exclusions=DEFAULT_WEIGHT_DECAY_EXCLUSIONS,
):
    """Builds LAMB or AdamW with warmup + polynomial decay and clipping.

    As the original `optimization.py`: epsilon 1e-6, betas (0.9, 0.999),
    weight decay `weight_decay_rate` on every variable except LayerNorm
    parameters and biases, gradients clipped to global norm `clipnorm`
    (the norm of the gradient aggregated over replicas and accumulation
    steps), learning rate warmed up linearly for `num_warmup_steps` then
    decayed polynomially to `end_learning_rate` at `num_train_steps`.

    Args:
        name: "adamw" (fine-tuning) or "lamb" (pretraining, large batches).
        learning_rate: float. Peak learning rate.
        num_train_steps: int. Number of weight *updates*; with gradient
            accumulation that is `micro_batches // gradient_accumulation_steps`.
        num_warmup_steps: int.
        weight_decay_rate: float; 0 or None turns decay off.
        end_learning_rate: float.
        power: float. Decay power (1.0 = linear).
        clipnorm: float or None. Global-norm clip.
        gradient_accumulation_steps: int >= 2 or None. Sum this many
            micro-batch gradients (then average) before each update, for an
            effective batch `gradient_accumulation_steps` times larger.
        weight_decay_exclusions: regular expressions matched against
            variable paths.

    Returns:
        A Keras 3 optimizer (`keras_albert.training.AdamW` or `Lamb`).

    Example:
    ```python
    optimizer = create_optimizer("adamw", 2e-5, num_train_steps=1000,
                                 num_warmup_steps=100)
    classifier.compile(optimizer=optimizer)
    ```
    """
    if name not in OPTIMIZER_CLASSES:
        raise ValueError(
            f"Unknown optimizer name={name!r}; expected one of {sorted(OPTIMIZER_CLASSES)}."
        )
    if not num_train_steps or num_train_steps <= 0:
        raise ValueError(
            f"`num_train_steps` must be a positive int. Received: {num_train_steps}"
        )
    if gradient_accumulation_steps is not None and gradient_accumulation_steps < 1:
        raise ValueError(
            "`gradient_accumulation_steps` must be >= 1 or None. Received: "
            f"{gradient_accumulation_steps}"
        )
    schedule = WarmupPolynomialDecay(
        initial_learning_rate=learning_rate,
        decay_steps=num_train_steps,
        warmup_steps=num_warmup_steps,
        end_learning_rate=end_learning_rate,
        power=power,
    )
    return OPTIMIZER_CLASSES[name](
        learning_rate=schedule,
        weight_decay=weight_decay_rate or 0.0,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        global_clipnorm=clipnorm or None,
        # Keras requires >= 2; 1 means "no accumulation".
        gradient_accumulation_steps=(
            gradient_accumulation_steps if (gradient_accumulation_steps or 0) > 1 else None
        ),
        weight_decay_exclusions=weight_decay_exclusions,
    )
