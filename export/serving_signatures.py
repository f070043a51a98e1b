"""Serving functions for every ALBERT task model: raw UTF-8 strings in.

`serving_functions(model, tokenizer, spec)` returns `tf.function`s with
fixed input signatures, ready for `keras.export.ExportArchive.add_endpoint`,
built by `SERVING_BUILDERS[task]` for the task names of the registry
`keras_albert.task_spec.TASKS`; `spec` (that task's `TaskSpec`: labels,
sequence length, windows, QA options) is what the model was trained with:

| model | `serving_default` inputs | outputs |
|---|---|---|
| `AlbertTextClassifier` | `text` (+ `text_pair`) `[batch]` | `probabilities` `[batch, classes]`, `label_ids`, `labels` `[batch]`, `label_names` `[batch, classes]`, `logits`; regression: `scores` |
| `AlbertTokenClassifier` | `text` `[batch]` (words split at whitespace) | per word: `words`, `word_tags`, `word_tag_ids`, `word_probabilities`, `word_char_starts`, `word_char_ends` `[batch, max_words]`, `num_words`; per entity: `entity_types`, `entity_texts`, `entity_start_words`, `entity_end_words` (inclusive), `entity_char_starts`, `entity_char_ends` `[batch, max_entities]`, `num_entities` |
| `AlbertQuestionAnswerer`, `AlbertSquadV2QuestionAnswerer` | `question`, `context` `[batch]` | `answer_texts`, `answer_char_starts`, `answer_char_ends` (-1: no answer), `has_answer`, `answer_scores`, `null_odds` `[batch]` |
| `AlbertMultipleChoice` | `context`, `question` `[batch]`, `choices` `[batch, num_choices]` | `probabilities`, `logits` `[batch, num_choices]`, `choice_ids` `[batch]` |
| `AlbertPretrainer` (fill-mask) | `text` `[batch]` with `[MASK]`s | per mask: `top_k_pieces`, `top_k_ids`, `top_k_probabilities` `[batch, max_masks, top_k]`, `mask_positions` `[batch, max_masks]`, `num_masks` `[batch]` |
| `AlbertBackbone` | `text` `[batch]` | `pooled_output` `[batch, hidden]`, `sequence_output` `[batch, length, hidden]`, `padding_mask` `[batch, length]` |

Every model also gets `token_ids`: the model itself on `token_ids`,
`segment_ids`, `padding_mask` (int32 `[batch, length]`; multiple choice
`[batch, num_choices, length]`; the pretrainer also `mask_positions`).

Character offsets are Python `str` indices into the request's text, ends
exclusive. Text goes through the task programs' own code: the
`AlbertTokenizer` graph and `AlbertPreprocessor` packing for
classification, `token_labels`' word windows and seqeval chunking for NER,
`question_answering`'s windows, offsets and span rules for QA, through
the library's graph twins of those rules (`keras_albert.packing`,
`keras_albert.sliding_windows`, `keras_albert/graph_*.py`), each tested
against its Python original.

Serving limits (`ServingLimits`, recorded in the export's
`serving_config.json` and set with `export.saved_model`'s flags) cap the
work of one request: at most `max_batch_size` rows, `max_text_chars`
characters in any text input, and `max_windows_per_request` packed
sequences the model runs on (the NER and QA windows of all rows, the
options of all multiple-choice rows). A request over a limit fails before
the model runs with `INVALID_ARGUMENT` naming the limit and the request's
value; `token_ids` is capped at `max_batch_size` rows. Text inputs with
different numbers of rows are refused the same way, naming each input's rows.

Bad input: invalid UTF-8 is replaced with U+FFFD first (as
`bytes.decode(errors="replace")`); empty strings and batches of zero give
empty answers; texts longer than `sequence_length` are truncated for
classification and embeddings and cut into overlapping windows for NER and
QA; outputs padded per batch come with counts (`num_words`,
`num_entities`). Batches are packed to their longest text, not to
`sequence_length`, so short requests stay cheap.
"""

import dataclasses

import keras
import tensorflow as tf

from keras_albert.graph_answer_spans import AnswerSpanDecoder
from keras_albert.graph_beam_answer_spans import BeamAnswerSpanDecoder
from keras_albert.graph_entity_spans import EntitySpanDecoder
from keras_albert.graph_piece_offsets import WordPieceOffsets
from keras_albert.graph_text import repair_utf8, split_words
from keras_albert.albert_preprocessor import AlbertPreprocessor
from keras_albert.packing import pack_segments_tf, place_segment_tf
from keras_albert.sliding_windows import SlidingWindowsTF
from keras_albert import task_spec
from keras_albert.task_spec import task_of  # noqa: F401 (the one task naming, re-exported for export/)

TOKEN_IDS_SIGNATURE = "token_ids"
DEFAULT_SIGNATURE = "serving_default"
FEATURE_NAMES = ("token_ids", "segment_ids", "padding_mask")
MASK_TEXT = "[MASK]"


@dataclasses.dataclass(frozen=True)
class ServingLimits:
    """The most work one request to a serving signature may ask for.

    Attributes:
        max_batch_size: rows per request.
        max_text_chars: Unicode characters in any one text input.
        max_windows_per_request: packed sequences the model runs on, over
            all rows (NER and QA windows, multiple-choice options).
    """

    max_batch_size: int = 64
    max_text_chars: int = 20000
    max_windows_per_request: int = 256

    # The export.saved_model flag of each limit is the field's name.
    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"Serving limit {field.name} (--{field.name}) must be a positive int. Received: {value!r}")

    def to_config(self):
        return dataclasses.asdict(self)


def _within_limit(value, amount, limit_name, limit, what):
    """`value`, computed only after checking `amount <= limit` (else INVALID_ARGUMENT)."""
    check = tf.debugging.Assert(
        amount <= limit,
        ["Serving limit exceeded: the request has", amount, f"{what}, more than {limit_name}={limit} "
         f"(set at export: export.saved_model --{limit_name})."],
    )
    with tf.control_dependencies([check]):
        return tf.nest.map_structure(tf.identity, value)


def check_batch_size(texts, limits):
    """`texts` (`[batch, ...]` tensors), once the batch is within `limits.max_batch_size`."""
    batch_size = tf.shape(tf.nest.flatten(texts)[0])[0]
    return _within_limit(texts, batch_size, "max_batch_size", limits.max_batch_size, "rows")


def check_same_rows(texts, names):
    """`texts`, once all have the same number of rows (else INVALID_ARGUMENT naming `names` and their rows)."""
    rows = [tf.shape(text)[0] for text in texts]
    counts = [item for name, count in zip(names, rows) for item in (count, f"rows of {name}")]
    check = tf.debugging.Assert(
        tf.reduce_all(tf.equal(tf.stack(rows), rows[0])),
        ["Inputs of different lengths: every input needs one row per example; the request has", *counts],
    )
    with tf.control_dependencies([check]):
        return tf.nest.map_structure(tf.identity, texts)


def check_texts(texts, limits, names=("text",)):
    """UTF-8-repaired `texts` (a tensor or tuple, the inputs `names`), with
    one number of rows, within the batch and character limits."""
    texts = tuple(repair_utf8(text) for text in tf.nest.flatten(texts))
    if len(texts) > 1:
        texts = check_same_rows(texts, names)
    texts = check_batch_size(texts, limits)
    longest = tf.reduce_max(tf.concat([tf.reshape(tf.strings.length(t, unit="UTF8_CHAR"), [-1]) for t in texts] + [[0]], 0))
    return _within_limit(texts, longest, "max_text_chars", limits.max_text_chars, "characters in one text")


def check_windows(value, num_windows, limits):
    """`value`, once `num_windows` is within `limits.max_windows_per_request`."""
    return _within_limit(value, num_windows, "max_windows_per_request", limits.max_windows_per_request, "windows")


def _strings(name):
    return tf.TensorSpec([None], tf.string, name=name)


def trim_to_longest(features):
    """Cuts packed `[batch, T]` features to the batch's longest sequence."""
    longest = tf.reduce_max(tf.reduce_sum(features["padding_mask"], axis=1))
    longest = tf.maximum(longest, 1)  # An empty batch's max is INT_MIN.
    return {name: value[:, :longest] for name, value in features.items()}


def token_ids_function(model, limits=None):
    """The model on packed token ids, its raw outputs by name.

    With `limits` (serving), at most `limits.max_batch_size` rows; without
    (TFLite conversion: no assertion in the converted graph), any batch.
    """
    spec = {name: tf.TensorSpec(tensor.shape, tf.int32, name=name) for name, tensor in model.input.items()}

    @tf.function(input_signature=[spec])
    def token_ids(features):
        if limits is not None:
            features = check_batch_size(features, limits)
        outputs = model(features, training=False)
        if not isinstance(outputs, dict):
            outputs = {"logits": outputs}
        return outputs

    return token_ids


def text_classifier_function(model, preprocessor, label_names=None, text_pair=False, limits=None):
    """`serving_default` of an `AlbertTextClassifier` (see the module table)."""
    limits = limits or ServingLimits()
    num_classes = model.num_classes
    if label_names is None:
        label_names = [str(i) for i in range(num_classes)]
    label_names = [str(name) for name in label_names]
    if num_classes > 1 and len(label_names) != num_classes:
        raise ValueError(f"`label_names` has {len(label_names)} names for a model with {num_classes} classes.")
    labels = tf.constant(label_names)
    outputs_are_probabilities = model.activation is keras.activations.softmax

    def classify(*texts):
        texts = check_texts(texts, limits, ("text", "text_pair"))
        features = preprocessor(texts if len(texts) > 1 else texts[0])
        outputs = model(trim_to_longest(features), training=False)
        if num_classes == 1:
            return {"scores": outputs[:, 0]}
        probabilities = outputs if outputs_are_probabilities else tf.nn.softmax(outputs, axis=-1)
        label_ids = tf.argmax(outputs, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "label_ids": label_ids,
            "labels": tf.gather(labels, label_ids),
            "label_names": tf.broadcast_to(labels[None, :], tf.shape(probabilities)),
            "logits": outputs,
        }

    if text_pair:
        return tf.function(lambda text, text_pair: classify(text, text_pair),
                           input_signature=[_strings("text"), _strings("text_pair")])
    return tf.function(lambda text: classify(text), input_signature=[_strings("text")])


def embeddings_function(backbone, preprocessor, limits=None):
    """`serving_default` of an `AlbertBackbone`: its outputs for raw text."""
    limits = limits or ServingLimits()

    @tf.function(input_signature=[_strings("text")])
    def embed(text):
        features = trim_to_longest(preprocessor(check_texts(text, limits)[0]))
        outputs = backbone(features, training=False)
        return {
            "pooled_output": outputs["pooled_output"],
            "sequence_output": outputs["sequence_output"],
            "padding_mask": features["padding_mask"],
        }

    return embed


def token_classifier_function(model, tokenizer, sequence_length, label_names, window_stride=None, limits=None):
    """`serving_default` of an `AlbertTokenClassifier` (see the module table).

    As `tasks/run_ner.py`: every whitespace-separated word is tokenized on
    its own (a word without pieces becomes `<unk>`), sentences longer than
    `sequence_length` are cut into windows every `window_stride` pieces
    (default half a window), each word is tagged from its first piece in
    the window where it has the most context, and entities are chunked
    as seqeval (conlleval).
    """
    if len(label_names) != model.num_classes:
        raise ValueError(f"`label_names` has {len(label_names)} tags for a model with {model.num_classes} classes.")
    limits = limits or ServingLimits()
    capacity = sequence_length - 2
    stride = window_stride or max(1, capacity // 2)
    tags = tf.constant([str(name) for name in label_names])
    entity_decoder = EntitySpanDecoder(label_names)
    cls_id, sep_id, pad_id, unk_id = (
        tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id
    )

    @tf.function(input_signature=[_strings("text")])
    def tag(text):
        text = check_texts(text, limits)[0]
        batch_size = tf.shape(text)[0]
        words = split_words(text)
        words_per_sentence = tf.cast(words["words"].row_lengths(), tf.int32)
        pieces = tokenizer(words["words"].flat_values)
        pieces_per_word = tf.cast(pieces.row_lengths(), tf.int32)
        # `token_labels.tokenize_words`: a word without pieces is <unk>.
        dense = tf.pad(pieces.to_tensor(default_value=unk_id), [[0, 0], [0, 1]], constant_values=unk_id)
        pieces = tf.RaggedTensor.from_tensor(dense, lengths=tf.maximum(pieces_per_word, 1))
        pieces_per_word = tf.maximum(pieces_per_word, 1)
        word_in_sentence = tf.cast(tf.ragged.range(words_per_sentence).flat_values, tf.int32)
        first_piece_word = tf.where(
            tf.cast(tf.ragged.range(pieces_per_word).flat_values, tf.int32) == 0,
            tf.repeat(word_in_sentence, pieces_per_word),
            -1,
        )
        pieces_per_sentence = tf.math.unsorted_segment_sum(
            pieces_per_word, tf.cast(words["words"].value_rowids(), tf.int32), batch_size
        )
        sentence_pieces = tf.RaggedTensor.from_row_lengths(pieces.flat_values, pieces_per_sentence)
        sentence_first_words = tf.RaggedTensor.from_row_lengths(first_piece_word, pieces_per_sentence)

        windows = SlidingWindowsTF(pieces_per_sentence, capacity, stride, window_for_empty=False)
        window_pieces = windows.gather(sentence_pieces.to_tensor(default_value=pad_id), pad_id)
        window_words = windows.gather(sentence_first_words.to_tensor(default_value=-1), -1)
        predicts = tf.logical_and(windows.is_max_context(), window_words >= 0)
        longest = tf.maximum(tf.reduce_max(tf.concat([windows.lengths, [0]], 0)), 1)
        features, _ = pack_segments_tf([(window_pieces, windows.lengths)], cls_id, sep_id, longest + 2, pad_id)
        features = check_windows(features, tf.shape(windows.sequence_ids)[0], limits)
        logits = model(features, training=False)[:, 1 : longest + 1]  # The window's pieces.

        # One logit row per word: from its first piece in its best window.
        max_words = tf.reduce_max(tf.concat([words_per_sentence, [0]], 0))
        where = tf.where(predicts[:, :longest])
        word_index = tf.stack(
            [tf.gather(windows.sequence_ids, where[:, 0]), tf.gather_nd(window_words[:, :longest], where)], axis=1
        )
        word_logits = tf.scatter_nd(
            word_index, tf.gather_nd(logits, where), [batch_size, max_words, tf.shape(logits)[-1]]
        )
        tag_ids = tf.argmax(word_logits, axis=-1, output_type=tf.int32)
        in_sentence = tf.range(max_words)[None, :] < words_per_sentence[:, None]
        word_probabilities = tf.where(in_sentence, tf.reduce_max(tf.nn.softmax(word_logits), axis=-1), 0.0)
        word_tags = tf.where(in_sentence, tf.gather(tags, tag_ids), "")

        char_starts = words["char_starts"].to_tensor()
        char_ends = words["char_ends"].to_tensor()
        byte_starts = words["byte_starts"].to_tensor()
        byte_ends = words["byte_ends"].to_tensor()
        entities = entity_decoder(tag_ids, words_per_sentence)
        start_words = entities["entity_start_words"]
        end_words = entities["entity_end_words"]

        def at_words(values, word_ids):
            return word_ids.with_flat_values(
                tf.gather_nd(values, tf.stack([tf.cast(word_ids.value_rowids(), tf.int32), word_ids.flat_values], 1))
            )

        entity_byte_starts = at_words(byte_starts, start_words)
        entity_byte_ends = at_words(byte_ends, end_words)
        entity_texts = start_words.with_flat_values(
            tf.strings.substr(
                tf.gather(text, start_words.value_rowids()),
                entity_byte_starts.flat_values,
                entity_byte_ends.flat_values - entity_byte_starts.flat_values,
            )
        )
        return {
            "words": words["words"].to_tensor(default_value=""),
            "word_tags": word_tags,
            "word_tag_ids": tf.where(in_sentence, tag_ids, 0),
            "word_probabilities": word_probabilities,
            "word_char_starts": char_starts,
            "word_char_ends": char_ends,
            "num_words": words_per_sentence,
            "entity_types": entities["entity_types"].to_tensor(default_value=""),
            "entity_texts": entity_texts.to_tensor(default_value=""),
            "entity_start_words": start_words.to_tensor(),
            "entity_end_words": end_words.to_tensor(),
            "entity_char_starts": at_words(char_starts, start_words).to_tensor(),
            "entity_char_ends": at_words(char_ends, end_words).to_tensor(),
            "num_entities": tf.cast(start_words.row_lengths(), tf.int32),
        }

    return tag


def question_answerer_function(model, tokenizer, spec, limits=None):
    """`serving_default` of an `AlbertQuestionAnswerer` (see the module table).

    As `keras_albert.question_answering` with the `QuestionAnsweringSpec`
    `spec`: the question is cut to `max_query_length` tokens, the context
    is tokenized word by word with character offsets and covered by
    `[CLS] question [SEP] window [SEP]` windows every `doc_stride` tokens,
    and the answer is decoded with `decode_answer`'s rules; the original
    SQuAD v2.0 head (`AlbertSquadV2QuestionAnswerer`, a
    `SquadV2QuestionAnsweringSpec`) with `decode_beam_answer`'s, from its beam.
    """
    limits = limits or ServingLimits()
    sequence_length, doc_stride, max_query_length = spec.sequence_length, spec.doc_stride, spec.max_query_length
    if spec.TASK == "squad_v2_question_answering":
        decode = BeamAnswerSpanDecoder(spec.max_answer_length, spec.version_2_with_negative, spec.null_score_diff_threshold)
    else:
        span_decoder = AnswerSpanDecoder(
            spec.n_best_size, spec.max_answer_length, spec.version_2_with_negative, spec.null_score_diff_threshold
        )

        def decode(outputs, *windows):
            return span_decoder(outputs["start_logits"], outputs["end_logits"], *windows)
    offsets = WordPieceOffsets(tokenizer)
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id

    @tf.function(input_signature=[_strings("question"), _strings("context")])
    def answer(question, context):
        question, context = check_texts((question, context), limits, ("question", "context"))
        batch_size = tf.shape(question)[0]
        question_ids = tokenizer(question)[:, :max_query_length]
        question_lengths = tf.cast(question_ids.row_lengths(), tf.int32)
        words = split_words(context)
        word_pieces = tokenizer(words["words"].flat_values)
        piece_starts, piece_ends = offsets(words["words"].flat_values, word_pieces)
        word_starts = tf.repeat(words["char_starts"].flat_values, word_pieces.row_lengths())
        words_per_context = words["words"].row_lengths()
        context_ids = tf.RaggedTensor.from_row_lengths(
            tf.cast(word_pieces, tf.int32), words_per_context
        ).merge_dims(1, 2)
        token_starts = tf.RaggedTensor.from_row_lengths(word_starts + piece_starts.flat_values, context_ids.row_lengths())
        token_ends = tf.RaggedTensor.from_row_lengths(word_starts + piece_ends.flat_values, context_ids.row_lengths())

        # Windows: capacity depends on each question's length.
        capacity = sequence_length - 3 - question_lengths
        windows = SlidingWindowsTF(
            tf.cast(context_ids.row_lengths(), tf.int32),
            capacity,
            tf.minimum(capacity, doc_stride),
            window_for_empty=True,
            max_capacity=sequence_length - 3,
        )
        gather = lambda values, pad: windows.gather(values.to_tensor(default_value=pad), pad)
        window_ids = gather(context_ids, pad_id)
        window_starts = gather(token_starts, -1)
        window_ends = gather(token_ends, -1)
        window_question = tf.gather(question_ids.to_tensor(default_value=pad_id, shape=[None, max_query_length]), windows.sequence_ids)
        window_question_lengths = tf.gather(question_lengths, windows.sequence_ids)

        # [CLS] question [SEP] context [SEP]: no truncation, the windows fit.
        longest = tf.maximum(tf.reduce_max(tf.concat([window_question_lengths + windows.lengths + 3, [0]], 0)), 3)
        features, (_, context_starts) = pack_segments_tf(
            [(window_question, window_question_lengths), (window_ids, windows.lengths)], cls_id, sep_id, longest, pad_id
        )
        features = check_windows(features, tf.shape(windows.sequence_ids)[0], limits)
        outputs = model(features, training=False)
        place = lambda values, pad: place_segment_tf(values, context_starts, windows.lengths, longest, pad)
        token_offsets = tf.stack([place(window_starts, -1), place(window_ends, -1)], axis=-1)
        is_max_context = place(windows.is_max_context(), False)
        answers = decode(outputs, token_offsets, is_max_context, windows.sequence_ids, batch_size)
        # Answer text: the context's characters, via their byte offsets.
        char_starts = tf.maximum(answers["answer_char_starts"], 0)
        char_ends = tf.maximum(answers["answer_char_ends"], 0)
        _, char_byte_starts = tf.strings.unicode_decode_with_offsets(context, "UTF-8")
        byte_of_char = tf.concat(
            [char_byte_starts.to_tensor(), tf.zeros([batch_size, 1], tf.int64)], axis=1
        )
        byte_of_char = tf.where(
            tf.range(tf.shape(byte_of_char)[1], dtype=tf.int64)[None, :] >= char_byte_starts.row_lengths()[:, None],
            tf.cast(tf.strings.length(context), tf.int64)[:, None],
            byte_of_char,
        )
        byte_starts = tf.gather(byte_of_char, char_starts, batch_dims=1)
        byte_ends = tf.gather(byte_of_char, char_ends, batch_dims=1)
        texts = tf.strings.substr(context, byte_starts, byte_ends - byte_starts)
        answers["answer_texts"] = tf.where(answers["has_answer"], texts, "")
        return answers

    return answer


def multiple_choice_function(model, preprocessor, limits=None):
    """`serving_default` of an `AlbertMultipleChoice` (see the module table).

    As `tasks/run_multiple_choice.py`: option `i` is packed as
    `[CLS] context [SEP] question+option [SEP]`, the option filling the
    question's "_" blanks when it has any (`ChoiceExample.question_with_option`).
    """
    limits = limits or ServingLimits()

    @tf.function(input_signature=[_strings("context"), _strings("question"),
                                  tf.TensorSpec([None, None], tf.string, name="choices")])
    def choose(context, question, choices):
        context, question, choices = check_texts(
            (context, question, choices), limits, ("context", "question", "choices")
        )
        num_choices = tf.shape(choices)[1]
        choices = check_windows(choices, tf.size(choices), limits)
        questions = tf.repeat(question, num_choices)
        options = tf.reshape(choices, [-1])
        # str.replace("_", option): the parts between blanks joined by the option.
        parts = tf.strings.split(questions, sep="_")
        parts_per_question = parts.row_lengths()
        is_last = tf.equal(tf.ragged.range(parts_per_question).flat_values, tf.repeat(parts_per_question - 1, parts_per_question))
        option_after = tf.where(is_last, "", tf.repeat(options, parts_per_question))
        filled = tf.strings.reduce_join(
            parts.with_flat_values(tf.strings.join([parts.flat_values, option_after])), axis=1
        )
        has_blank = parts_per_question > 1
        appended = tf.strings.strip(tf.strings.join([questions, options], separator=" "))
        second = tf.where(has_blank, filled, appended)
        features = trim_to_longest(preprocessor((tf.repeat(context, num_choices), second)))
        features = {
            name: tf.reshape(value, [-1, num_choices, tf.shape(value)[-1]]) for name, value in features.items()
        }
        logits = model(features, training=False)
        return {
            "probabilities": tf.nn.softmax(logits, axis=-1),
            "logits": logits,
            "choice_ids": tf.argmax(logits, axis=-1, output_type=tf.int32),
        }

    return choose


def fill_mask_function(model, tokenizer, sequence_length, top_k, limits=None):
    """`serving_default` of an `AlbertPretrainer`: the `top_k` pieces for every `[MASK]`.

    The text around each literal `[MASK]` is tokenized on its own and the
    mask token put between the pieces, then packed as `[CLS] text [SEP]`
    (cut to `sequence_length`; masks cut off are not predicted).
    """
    vocabulary = tf.constant(tokenizer.get_vocabulary())
    mask_id, cls_id, sep_id, pad_id = (
        tokenizer.mask_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    )
    top_k = min(top_k, model.backbone.vocabulary_size)
    limits = limits or ServingLimits()

    @tf.function(input_signature=[_strings("text")])
    def fill(text):
        text = check_texts(text, limits)[0]
        batch_size = tf.shape(text)[0]
        parts = tf.strings.split(text, sep=MASK_TEXT)  # [batch, masks + 1]
        part_pieces = tf.cast(tokenizer(parts.flat_values), tf.int32)
        # Each part but the last is followed by a mask token.
        is_last = tf.equal(
            tf.range(tf.size(parts.flat_values)),
            tf.repeat(tf.cast(parts.row_limits() - 1, tf.int32), tf.cast(parts.row_lengths(), tf.int32)),
        )
        num_followers = tf.reduce_sum(tf.cast(tf.logical_not(is_last), tf.int32))
        mask_piece = tf.RaggedTensor.from_row_lengths(
            tf.fill([num_followers], mask_id), tf.cast(tf.logical_not(is_last), tf.int64)
        )
        pieces = tf.concat([part_pieces, mask_piece], axis=1)
        lengths = tf.math.unsorted_segment_sum(
            tf.cast(pieces.row_lengths(), tf.int32), tf.cast(parts.value_rowids(), tf.int32), batch_size
        )
        sentence = tf.RaggedTensor.from_row_lengths(pieces.flat_values, lengths)[:, : sequence_length - 2]
        longest = tf.maximum(tf.reduce_max(tf.concat([tf.cast(sentence.row_lengths(), tf.int32), [0]], 0)), 1)
        features, _ = pack_segments_tf(
            [(sentence.to_tensor(default_value=pad_id), tf.cast(sentence.row_lengths(), tf.int32))],
            cls_id, sep_id, longest + 2, pad_id,
        )
        is_mask = tf.equal(features["token_ids"], mask_id)
        positions = tf.ragged.boolean_mask(tf.broadcast_to(tf.range(longest + 2)[None, :], tf.shape(is_mask)), is_mask)
        mask_positions = positions.to_tensor(default_value=0)
        mask_positions = tf.pad(mask_positions, [[0, 0], [0, 1 - tf.minimum(tf.shape(mask_positions)[1], 1)]])
        outputs = model(dict(features, mask_positions=mask_positions), training=False)
        probabilities = tf.nn.softmax(outputs["mlm_logits"], axis=-1)
        top_probabilities, top_ids = tf.math.top_k(probabilities, k=top_k)
        num_masks = tf.cast(positions.row_lengths(), tf.int32)
        is_real = tf.range(tf.shape(mask_positions)[1])[None, :] < num_masks[:, None]
        return {
            "top_k_pieces": tf.where(is_real[:, :, None], tf.gather(vocabulary, top_ids), ""),
            "top_k_ids": tf.where(is_real[:, :, None], top_ids, 0),
            "top_k_probabilities": tf.where(is_real[:, :, None], top_probabilities, 0.0),
            "mask_positions": mask_positions,
            "num_masks": num_masks,
        }

    return fill


def _text_classification(model, tokenizer, preprocessor, spec, limits):
    return text_classifier_function(model, preprocessor, spec.labels, spec.text_pair, limits)


def _token_classification(model, tokenizer, preprocessor, spec, limits):
    return token_classifier_function(model, tokenizer, spec.sequence_length, spec.labels, spec.window_stride, limits)


def _question_answering(model, tokenizer, preprocessor, spec, limits):
    return question_answerer_function(model, tokenizer, spec, limits)


def _multiple_choice(model, tokenizer, preprocessor, spec, limits):
    return multiple_choice_function(model, preprocessor, limits)


def _pretraining(model, tokenizer, preprocessor, spec, limits):
    return fill_mask_function(model, tokenizer, spec.sequence_length, spec.top_k, limits)


def _backbone(model, tokenizer, preprocessor, spec, limits):
    return embeddings_function(model, preprocessor, limits)


# The `serving_default` builder of every task of `keras_albert.task_spec.TASKS`.
SERVING_BUILDERS = {
    "text_classification": _text_classification,
    "token_classification": _token_classification,
    "question_answering": _question_answering,
    "squad_v2_question_answering": _question_answering,
    "multiple_choice": _multiple_choice,
    "pretraining": _pretraining,
    "backbone": _backbone,
}


def serving_functions(model, tokenizer, spec=None, limits=None):
    """The serving functions of a task model, by signature name.

    Args:
        model: a model of `keras_albert.task_spec.TASKS`.
        tokenizer: its `AlbertTokenizer`.
        spec: its `TaskSpec` (the preset's `task_spec.json`); default
            `keras_albert.task_spec.default_spec(model)`. Checked against the model.
        limits: the `ServingLimits` of every request; default `ServingLimits()`.

    Returns:
        dict `{"serving_default": tf.function, "token_ids": tf.function}`.
    """
    task = task_of(model)
    spec = task_spec.default_spec(model) if spec is None else spec
    task_spec.check_spec_for_model(spec, model, "the serving spec")
    preprocessor = getattr(model, "preprocessor", None)
    if not isinstance(preprocessor, AlbertPreprocessor) or preprocessor.sequence_length != spec.sequence_length:
        preprocessor = AlbertPreprocessor(tokenizer, sequence_length=spec.sequence_length)
    limits = limits or ServingLimits()
    default = SERVING_BUILDERS[task](model, tokenizer, preprocessor, spec, limits)
    return {DEFAULT_SIGNATURE: default, TOKEN_IDS_SIGNATURE: token_ids_function(model, limits)}
