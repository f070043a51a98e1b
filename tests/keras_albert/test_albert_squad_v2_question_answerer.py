"""The original SQuAD v2.0 head against an independent NumPy reference.

A tiny original-format fine-tuned checkpoint is written under the official
variable names of google-research/albert's `squad_utils.create_v2_model`
(the head tensors by hand, here; the backbone through the TF1 exporter,
whose names `tests/keras_albert/convert` check), converted with
`keras_albert.convert`, and its outputs compared with `reference_v2_head`:
a NumPy transcription of the original's definition, position by position,
on informative weights (kernels N(0, 0.2), non-zero biases, LayerNorm
gammas away from 1), so a swapped concatenation, a wrong mask or a missing
LayerNorm moves the outputs far beyond the 1e-5 tolerance.
"""

import importlib.util
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_albert
from keras_albert.albert_squad_v2_question_answerer import AlbertSquadV2QuestionAnswerer
from keras_albert.convert import convert_checkpoint, load_tf1_checkpoint
from keras_albert.convert.tf1 import write_tf1_files
from keras_albert.squad_v2_answers import decode_beam_answer

H = 16
# (question length, context length) of each window; T = 16 with padding.
WINDOWS = ((2, 9), (3, 6), (1, 12))
T = 16


def informative(rng, shape, name):
    if name.endswith("gamma"):
        return rng.uniform(0.5, 1.5, shape)
    if name.endswith(("bias", "beta")):
        return rng.normal(0.0, 0.1, shape)
    return rng.normal(0.0, 0.2, shape)


def make_batch(seed=0):
    """Windows `[CLS] question [SEP] context [SEP]` + padding, and the original's p_mask."""
    rng = np.random.default_rng(seed)
    token_ids = np.zeros((len(WINDOWS), T), "int32")
    segment_ids = np.zeros((len(WINDOWS), T), "int32")
    padding_mask = np.zeros((len(WINDOWS), T), "int32")
    p_mask = np.ones((len(WINDOWS), T))
    for row, (question, context) in enumerate(WINDOWS):
        length = question + context + 3
        token_ids[row, :length] = rng.integers(5, 64, length)
        padding_mask[row, :length] = 1
        segment_ids[row, question + 2 : length] = 1
        # squad_utils.convert_examples_to_features: [CLS] 0, question 1,
        # [SEP] 1, context 0, [SEP] 1, padding 1.
        p_mask[row, 0] = 0
        p_mask[row, question + 2 : question + 2 + context] = 0
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}, p_mask


def log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def layer_norm(x, gamma, beta, epsilon=1e-12):
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def top(values, k):
    index = np.argsort(-values, kind="stable")[:k]
    return values[index], index


def reference_v2_head(sequence_output, p_mask, w, start_positions=None, start_n_top=5, end_n_top=5):
    """squad_utils.create_v2_model over `sequence_output` [B, T, H], one window at a time.

    `w` maps the original variable names to arrays. Returns the training
    outputs with `start_positions`, the beam outputs without.
    """
    outputs = {name: [] for name in ("start_log_probs", "end_log_probs", "cls_logits", "start_top_log_probs",
                                     "start_top_index", "end_top_log_probs", "end_top_index")}
    for b, h in enumerate(np.asarray(sequence_output, np.float64)):
        mask = p_mask[b]
        start_logits = h @ w["start_logits/dense/kernel"][:, 0] + w["start_logits/dense/bias"][0]
        start_masked = start_logits * (1 - mask) - 1e30 * mask
        start_log_probs = log_softmax(start_masked)

        def end_log_probs_after(start):
            features = np.concatenate([h, np.tile(h[start], (len(h), 1))], axis=-1)
            hidden = np.tanh(features @ w["end_logits/dense_0/kernel"] + w["end_logits/dense_0/bias"])
            hidden = layer_norm(hidden, w["end_logits/LayerNorm/gamma"], w["end_logits/LayerNorm/beta"])
            end_logits = hidden @ w["end_logits/dense_1/kernel"][:, 0] + w["end_logits/dense_1/bias"][0]
            return log_softmax(end_logits * (1 - mask) - 1e30 * mask)

        start_p = np.exp(start_log_probs)
        answer = np.concatenate([start_p @ h, h[0]])
        answer = np.tanh(answer @ w["answer_class/dense_0/kernel"] + w["answer_class/dense_0/bias"])
        outputs["cls_logits"].append(answer @ w["answer_class/dense_1/kernel"][:, 0])
        if start_positions is not None:
            outputs["start_log_probs"].append(start_log_probs)
            outputs["end_log_probs"].append(end_log_probs_after(start_positions[b]))
            continue
        start_top_log_probs, start_top_index = top(start_log_probs, start_n_top)
        ends = [top(end_log_probs_after(start), end_n_top) for start in start_top_index]
        outputs["start_top_log_probs"].append(start_top_log_probs)
        outputs["start_top_index"].append(start_top_index)
        outputs["end_top_log_probs"].append(np.concatenate([values for values, _ in ends]))
        outputs["end_top_index"].append(np.concatenate([index for _, index in ends]))
    return {name: np.array(values) for name, values in outputs.items() if values}


@pytest.fixture(scope="module")
def original_release(tmp_path_factory):
    """A fine-tuned run_squad_v2.py checkpoint folder, and its head tensors."""
    rng = np.random.default_rng(7)
    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=64, num_layers=2, num_heads=2, embedding_dim=8, hidden_dim=H,
        intermediate_dim=32, num_groups=2, max_sequence_length=32,
    )
    for variable in backbone.weights:
        variable.assign(informative(rng, variable.shape, variable.path))
    backbone_dir = tmp_path_factory.mktemp("backbone")
    write_tf1_files(backbone, str(backbone_dir))
    reader = tf.train.load_checkpoint(str(backbone_dir / "model.ckpt"))
    tensors = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    head_shapes = {
        "start_logits/dense/kernel": (H, 1), "start_logits/dense/bias": (1,),
        "end_logits/dense_0/kernel": (2 * H, H), "end_logits/dense_0/bias": (H,),
        "end_logits/LayerNorm/gamma": (H,), "end_logits/LayerNorm/beta": (H,),
        "end_logits/dense_1/kernel": (H, 1), "end_logits/dense_1/bias": (1,),
        "answer_class/dense_0/kernel": (2 * H, H), "answer_class/dense_0/bias": (H,),
        "answer_class/dense_1/kernel": (H, 1),
    }
    head = {name: informative(rng, shape, name).astype("float32") for name, shape in head_shapes.items()}
    tensors.update(head)
    tensors["global_step"] = np.array(5000, "int64")
    folder = tmp_path_factory.mktemp("squad_v2_release")
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=str(folder / "model.ckpt-best"), tensor_names=names, shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[name]) for name in names],
    )
    with open(backbone_dir / "albert_config.json") as source, open(folder / "albert_config.json", "w") as target:
        target.write(source.read())
    return folder, head


def assert_close(actual, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(actual, np.float64), expected, rtol=0, atol=atol)


def assert_matches_reference(model, head):
    batch, p_mask = make_batch()
    sequence_output = keras.ops.convert_to_numpy(model.backbone(batch)["sequence_output"])
    beam = model.predict(batch, verbose=0)
    expected_beam = reference_v2_head(sequence_output, p_mask, head)
    for name in ("start_top_index", "end_top_index"):
        np.testing.assert_array_equal(beam[name], expected_beam[name])
    for name in ("start_top_log_probs", "end_top_log_probs", "cls_logits"):
        assert_close(beam[name], expected_beam[name])

    starts = np.array([0, 7, 3], "int32")  # [CLS] (no answer) and two context tokens.
    training = model({**batch, "start_positions": starts}, training=False)
    expected = reference_v2_head(sequence_output, p_mask, head, start_positions=starts)
    allowed = p_mask == 0  # Masked positions are -1e30 on both sides.
    for name in ("start_log_probs", "end_log_probs"):
        actual = keras.ops.convert_to_numpy(training[name])
        assert_close(actual[allowed], expected[name][allowed])
        assert (actual[~allowed] < -1e29).all()
    assert_close(training["cls_logits"], expected["cls_logits"])
    return expected_beam


def test_original_checkpoint_converts_and_matches_the_numpy_reference(original_release, tmp_path):
    folder, head = original_release
    model = convert_checkpoint("tf1", str(folder), str(tmp_path / "preset"))
    assert isinstance(model, AlbertSquadV2QuestionAnswerer)
    assert_matches_reference(model, head)
    # The preset carries the head; the beam is informative (not all equal).
    reloaded = AlbertSquadV2QuestionAnswerer.from_preset(str(tmp_path / "preset"))
    expected = assert_matches_reference(reloaded, head)
    assert np.ptp(expected["cls_logits"]) > 0.1 and np.ptp(expected["end_top_log_probs"]) > 1.0


def test_original_loss_is_half_the_position_losses_plus_half_the_answer_class_loss(original_release):
    folder, head = original_release
    model = load_tf1_checkpoint(str(folder))
    batch, p_mask = make_batch()
    starts, ends = np.array([0, 7, 3], "int32"), np.array([0, 9, 5], "int32")
    is_impossible = (starts == 0).astype("float32")
    sequence_output = keras.ops.convert_to_numpy(model.backbone(batch)["sequence_output"])
    expected = reference_v2_head(sequence_output, p_mask, head, start_positions=starts)
    rows = np.arange(len(starts))
    start_loss = -expected["start_log_probs"][rows, starts].mean()
    end_loss = -expected["end_log_probs"][rows, ends].mean()
    logits = expected["cls_logits"]
    answer_loss = np.mean(np.maximum(logits, 0) - logits * is_impossible + np.log1p(np.exp(-np.abs(logits))))
    loss = model.evaluate(
        {**batch, "start_positions": starts},
        {"start_log_probs": starts, "end_log_probs": ends, "cls_logits": is_impossible},
        verbose=0, return_dict=True,
    )["loss"]
    np.testing.assert_allclose(loss, (start_loss + end_loss) / 2 + 0.5 * answer_loss, rtol=1e-5)


def test_export_to_tf1_writes_the_official_head_names(original_release, tmp_path):
    folder, head = original_release
    model = load_tf1_checkpoint(str(folder))
    write_tf1_files(model, str(tmp_path))
    reader = tf.train.load_checkpoint(str(tmp_path / "model.ckpt"))
    for name, value in head.items():
        np.testing.assert_array_equal(reader.get_tensor(name), value)


def test_trains_saves_and_reloads(tmp_path):
    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=64, num_layers=1, num_heads=2, embedding_dim=8, hidden_dim=H,
        intermediate_dim=32, max_sequence_length=32,
    )
    model = AlbertSquadV2QuestionAnswerer(backbone, start_n_top=3, end_n_top=2)
    batch, _ = make_batch()
    starts, ends = np.array([0, 7, 3], "int32"), np.array([0, 9, 5], "int32")
    labels = {"start_log_probs": starts, "end_log_probs": ends, "cls_logits": (starts == 0).astype("float32")}
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit({**batch, "start_positions": starts}, labels, epochs=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    beam = model.predict(batch, verbose=0)
    assert beam["start_top_index"].shape == (3, 3) and beam["end_top_index"].shape == (3, 6)
    model.save(tmp_path / "reader.keras")
    reloaded = keras.models.load_model(tmp_path / "reader.keras")
    assert (reloaded.start_n_top, reloaded.end_n_top) == (3, 2)
    for name, value in reloaded.predict(batch, verbose=0).items():
        np.testing.assert_allclose(value, beam[name], atol=1e-6)


REPOSITORY_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# On the backend of KERAS_BACKEND: the saved reader's beam, and a few training steps' losses.
BACKEND_SCRIPT = r"""
import json, sys
import numpy as np
import keras
import keras_albert

model = keras.models.load_model(sys.argv[1] + "/reader.keras", safe_mode=True)
inputs = dict(np.load(sys.argv[1] + "/inputs.npz"))
beam = {name: np.asarray(value).tolist() for name, value in model.predict(inputs, verbose=0).items()}
starts, ends = np.array([0, 7, 3], "int32"), np.array([0, 9, 5], "int32")
labels = {"start_log_probs": starts, "end_log_probs": ends, "cls_logits": (starts == 0).astype("float32")}
model.compile(optimizer=keras.optimizers.Adam(1e-2))
history = model.fit({**inputs, "start_positions": starts}, labels, epochs=4, verbose=0)
print(json.dumps({"backend": keras.backend.backend(), "beam": beam, "losses": history.history["loss"]}))
"""


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_loads_predicts_and_trains_on_another_backend(backend, original_release, tmp_path):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    folder, _ = original_release
    model = load_tf1_checkpoint(str(folder))
    batch, _ = make_batch()
    model.save(tmp_path / "reader.keras")
    np.savez(tmp_path / "inputs.npz", **batch)
    expected = model.predict(batch, verbose=0)
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2", JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPOSITORY_ROOT, env.get("PYTHONPATH")]))
    process = subprocess.run(
        [sys.executable, "-c", BACKEND_SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True, timeout=600
    )
    assert process.returncode == 0, process.stderr[-3000:]
    report = json.loads(process.stdout.strip().splitlines()[-1])
    assert report["backend"] == backend
    for name in ("start_top_index", "end_top_index"):
        np.testing.assert_array_equal(report["beam"][name], expected[name])
    for name in ("start_top_log_probs", "end_top_log_probs", "cls_logits"):
        np.testing.assert_allclose(report["beam"][name], expected[name], rtol=1e-4, atol=1e-5)
    assert report["losses"][-1] < report["losses"][0]  # Every head layer is trained there too.


def test_beam_sizes_must_be_positive():
    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=64, num_layers=1, num_heads=2, embedding_dim=8, hidden_dim=H,
        intermediate_dim=32, max_sequence_length=32,
    )
    with pytest.raises(ValueError, match="start_n_top"):
        AlbertSquadV2QuestionAnswerer(backbone, start_n_top=0)


def test_preprocessor_refuses_more_segments_than_the_backbone_has(albert_tokenizer):
    backbone = keras_albert.AlbertBackbone(
        vocabulary_size=64, num_layers=1, num_heads=2, embedding_dim=8, hidden_dim=H,
        intermediate_dim=32, max_sequence_length=32,
    )  # fmt: skip
    preprocessor = keras_albert.AlbertPreprocessor(albert_tokenizer, sequence_length=T)
    model = AlbertSquadV2QuestionAnswerer(backbone, preprocessor=preprocessor)
    assert model.preprocessor.num_segments == 2
    with pytest.raises(ValueError, match="has 2 segment types .* received 3"):
        model.preprocessor((["who eats?"], ["a man eats"], ["so do i"]))
    assert max(np.asarray(model.preprocessor((["who eats?"], ["a man eats"]))["segment_ids"][0])) == 1


# === Decoding ===

CONTEXT = "Alpha beta  gamma delta."


def window(question_length, offsets, max_context=None):
    """A window `[CLS] question [SEP] context [SEP]` over CONTEXT's character `offsets`."""
    length = question_length + len(offsets) + 3
    token_offsets = np.full((length, 2), -1, np.int32)
    token_offsets[question_length + 2 : length - 1] = offsets
    is_max_context = np.zeros(length, bool)
    is_max_context[question_length + 2 : length - 1] = True if max_context is None else max_context
    return {"token_offsets": token_offsets, "token_is_max_context": is_max_context}


# Tokens: Alpha | beta | gam | ma | delta | .   (context positions 3..8 after a 1-token question)
OFFSETS = [(0, 5), (6, 10), (12, 15), (15, 17), (18, 23), (23, 24)]


def beam_of(starts, start_log_probs, ends, end_log_probs, cls_logit):
    return {
        "start_top_index": np.array([starts]), "start_top_log_probs": np.array([start_log_probs]),
        "end_top_index": np.array([ends]), "end_top_log_probs": np.array([end_log_probs]),
        "cls_logits": np.array([cls_logit]),
    }


def test_decoding_ranks_valid_beam_pairs_by_summed_log_probs():
    windows = [window(1, OFFSETS)]
    # Starts: 5 (gam), 1 (question: invalid), 4 (beta). Ends per start: two each.
    beam = beam_of(
        [5, 1, 4], [-0.5, -0.1, -1.0],
        [6, 4,     3, 5,     5, 8], [-0.2, -0.3,   -0.01, -0.02,   -0.4, -0.1],
        cls_logit=-2.0,
    )
    answer = decode_beam_answer(CONTEXT, windows, beam, n_best_size=10, max_answer_length=3)
    # (5, 6) "gamma" -0.7; (5, 4) end before start; (4, 5) "beta  gam" -1.4; (4, 8) 5 tokens > 3.
    assert [entry["text"] for entry in answer["nbest"]] == ["gamma", "beta  gam"]
    assert answer["nbest"][0]["start_log_prob"] == -0.5 and answer["nbest"][0]["end_log_prob"] == -0.2
    np.testing.assert_allclose(answer["nbest"][0]["probability"], 1 / (1 + np.exp(-0.7)))
    assert answer["text"] == answer["best_non_null_text"] == "gamma"
    assert answer["null_odds"] == -2.0


def test_decoding_null_threshold_and_max_context_over_windows():
    first = window(1, OFFSETS[:4], max_context=[True, True, True, False])
    second = window(1, OFFSETS[2:], max_context=[False, True, True, True])
    beam = {
        name: np.concatenate([a, b])
        for (name, a), (_, b) in zip(
            beam_of([6, 3], [-0.1, -0.9], [6, 3, 3, 4], [-0.1, -2.0, -0.2, -0.3], 0.5).items(),
            beam_of([4, 5], [-0.3, -0.4], [6, 4, 6, 7], [-0.2, -0.3, -0.1, -0.9], 1.5).items(),
        )
    }
    # First window: start 6 ("ma") is not its max context; (3, 3) "Alpha" -1.1, (3, 4) -1.2.
    # Second window: (4, 6) "ma delta." -0.5, (4, 4) "ma" -0.6, (5, 6) "delta." -0.5, (5, 7) -1.3.
    answer = decode_beam_answer(CONTEXT, [first, second], beam, n_best_size=3, null_score_diff_threshold=0.5)
    assert [entry["text"] for entry in answer["nbest"]] == ["ma delta.", "delta.", "ma"]
    assert answer["null_odds"] == 0.5  # The smallest over windows.
    assert answer["text"] == "ma delta."  # Not above the threshold.
    assert decode_beam_answer(CONTEXT, [first, second], beam, null_score_diff_threshold=0.4)["text"] == ""
    assert decode_beam_answer(
        CONTEXT, [first, second], beam, version_2_with_negative=False, null_score_diff_threshold=0.4
    )["text"] == "ma delta."


def test_decoding_without_a_valid_span_predicts_no_answer():
    beam = beam_of([0, 1], [-0.1, -0.2], [0, 1, 1, 0], [-0.1, -0.2, -0.3, -0.4], -5.0)
    answer = decode_beam_answer(CONTEXT, [window(1, OFFSETS)], beam)
    assert answer["text"] == answer["best_non_null_text"] == ""
    assert answer["nbest"] == [{"text": "", "start_log_prob": -1e6, "end_log_prob": -1e6, "probability": 1.0}]


def test_a_classifier_built_before_the_original_head_still_runs():
    # keras-hub's `PipelineModel.__init__` resets the base class that every
    # task shares; a subclassed head built later took `Functional` away from it.
    def backbone():
        return keras_albert.AlbertBackbone(
            vocabulary_size=50, num_layers=1, num_heads=2, embedding_dim=4, hidden_dim=8,
            intermediate_dim=16, max_sequence_length=16,
        )

    features = {
        "token_ids": np.ones((2, 5), "int32"),
        "segment_ids": np.zeros((2, 5), "int32"),
        "padding_mask": np.ones((2, 5), "int32"),
    }
    classifier = keras_albert.AlbertTextClassifier(backbone(), num_classes=2)
    expected = np.asarray(classifier(features))
    keras_albert.AlbertSquadV2QuestionAnswerer(backbone())
    np.testing.assert_allclose(np.asarray(classifier.predict(features, verbose=0)), expected, atol=1e-6)
