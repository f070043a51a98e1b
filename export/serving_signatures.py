"""Serving functions for every ALBERT task model: raw UTF-8 strings in.

`serving_functions(model, tokenizer, ...)` returns `tf.function`s with fixed
input signatures, ready for `keras.export.ExportArchive.add_endpoint`:

| model | `serving_default` inputs | outputs |
|---|---|---|
| `AlbertTextClassifier` | `text` (+ `text_pair`) `[batch]` | `probabilities` `[batch, classes]`, `label_ids`, `labels` `[batch]`, `label_names` `[batch, classes]`, `logits`; regression: `scores` |
| `AlbertTokenClassifier` | `text` `[batch]` (words split at whitespace) | per word: `words`, `word_tags`, `word_tag_ids`, `word_probabilities`, `word_char_starts`, `word_char_ends` `[batch, max_words]`, `num_words`; per entity: `entity_types`, `entity_texts`, `entity_start_words`, `entity_end_words` (inclusive), `entity_char_starts`, `entity_char_ends` `[batch, max_entities]`, `num_entities` |
| `AlbertQuestionAnswerer` | `question`, `context` `[batch]` | `answer_texts`, `answer_char_starts`, `answer_char_ends` (-1: no answer), `has_answer`, `answer_scores`, `null_odds` `[batch]` |
| `AlbertBackbone` | `text` `[batch]` | `pooled_output` `[batch, hidden]`, `sequence_output` `[batch, length, hidden]`, `padding_mask` `[batch, length]` |

Every model also gets `token_ids`: the model itself on `token_ids`,
`segment_ids`, `padding_mask` (int32 `[batch, length]`).

Character offsets are Python `str` indices into the request's text, ends
exclusive. Text goes through the task programs' own code: the
`AlbertTokenizer` graph and `AlbertPreprocessor` packing for
classification, `token_labels`' word windows and seqeval chunking for NER,
`question_answering`'s windows, offsets and span rules for QA (in-graph
copies in `export/graph_*.py`, each tested against the Python original).

Bad input: invalid UTF-8 is replaced with U+FFFD first (as
`bytes.decode(errors="replace")`); empty strings and batches of zero give
empty answers; texts longer than `sequence_length` are truncated for
classification and embeddings and cut into overlapping windows for NER and
QA; outputs padded per batch come with counts (`num_words`,
`num_entities`). Batches are packed to their longest text, not to
`sequence_length`, so short requests stay cheap.
"""

import keras
import tensorflow as tf

from .graph_answer_spans import AnswerSpanDecoder
from .graph_entity_spans import EntitySpanDecoder
from .graph_piece_offsets import WordPieceOffsets
from .graph_text import repair_utf8, split_words
from .graph_windows import SlidingWindows
from keras_albert.albert_backbone import AlbertBackbone
from keras_albert.albert_preprocessor import AlbertPreprocessor
from keras_albert.albert_question_answerer import AlbertQuestionAnswerer
from keras_albert.albert_text_classifier import AlbertTextClassifier
from keras_albert.albert_token_classifier import AlbertTokenClassifier

TOKEN_IDS_SIGNATURE = "token_ids"
DEFAULT_SIGNATURE = "serving_default"
FEATURE_NAMES = ("token_ids", "segment_ids", "padding_mask")
TASKS = {
    "text_classifier": AlbertTextClassifier,
    "token_classifier": AlbertTokenClassifier,
    "question_answerer": AlbertQuestionAnswerer,
    "embeddings": AlbertBackbone,
}


def _strings(name):
    return tf.TensorSpec([None], tf.string, name=name)


def task_of(model):
    """The task name (a key of `TASKS`) of a model."""
    for name, model_class in TASKS.items():
        if isinstance(model, model_class):
            return name
    raise ValueError(
        f"Cannot serve a {type(model).__name__}: exportable models are "
        f"{', '.join(c.__name__ for c in TASKS.values())}."
    )


def trim_to_longest(features):
    """Cuts packed `[batch, T]` features to the batch's longest sequence."""
    longest = tf.reduce_max(tf.reduce_sum(features["padding_mask"], axis=1))
    longest = tf.maximum(longest, 1)  # An empty batch's max is INT_MIN.
    return {name: value[:, :longest] for name, value in features.items()}


def pack_single_segments(pieces, lengths, sequence_length, cls_token_id, sep_token_id, pad_token_id):
    """`[CLS] pieces [SEP]` rows from dense `[rows, capacity]` pieces."""
    positions = tf.range(sequence_length)[None, :]
    body = tf.pad(pieces, [[0, 0], [1, 0]])[:, :sequence_length]
    body = tf.pad(body, [[0, 0], [0, sequence_length - tf.shape(body)[1]]])
    lengths = lengths[:, None]
    token_ids = tf.where(positions <= lengths, body, pad_token_id)
    token_ids = tf.where(positions == lengths + 1, sep_token_id, token_ids)
    token_ids = tf.where(positions == 0, cls_token_id, token_ids)
    return {
        "token_ids": token_ids,
        "segment_ids": tf.zeros_like(token_ids),
        "padding_mask": tf.cast(positions < lengths + 2, token_ids.dtype),
    }


def token_ids_function(model):
    """The model on packed token ids, its raw outputs by name."""

    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in FEATURE_NAMES}

    @tf.function(input_signature=[spec])
    def token_ids(features):
        outputs = model(features, training=False)
        if not isinstance(outputs, dict):
            outputs = {"logits": outputs}
        return outputs

    return token_ids


def text_classifier_function(model, preprocessor, label_names=None, text_pair=False):
    """`serving_default` of an `AlbertTextClassifier` (see the module table)."""
    num_classes = model.num_classes
    if label_names is None:
        label_names = [str(i) for i in range(num_classes)]
    label_names = [str(name) for name in label_names]
    if num_classes > 1 and len(label_names) != num_classes:
        raise ValueError(f"`label_names` has {len(label_names)} names for a model with {num_classes} classes.")
    labels = tf.constant(label_names)
    outputs_are_probabilities = model.activation is keras.activations.softmax

    def classify(*texts):
        texts = tuple(repair_utf8(t) for t in texts)
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


def embeddings_function(backbone, preprocessor):
    """`serving_default` of an `AlbertBackbone`: its outputs for raw text."""

    @tf.function(input_signature=[_strings("text")])
    def embed(text):
        features = trim_to_longest(preprocessor(repair_utf8(text)))
        outputs = backbone(features, training=False)
        return {
            "pooled_output": outputs["pooled_output"],
            "sequence_output": outputs["sequence_output"],
            "padding_mask": features["padding_mask"],
        }

    return embed


def token_classifier_function(model, tokenizer, sequence_length, label_names, window_stride=None):
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
    capacity = sequence_length - 2
    stride = window_stride or max(1, capacity // 2)
    tags = tf.constant([str(name) for name in label_names])
    entity_decoder = EntitySpanDecoder(label_names)
    cls_id, sep_id, pad_id, unk_id = (
        tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id, tokenizer.unk_token_id
    )

    @tf.function(input_signature=[_strings("text")])
    def tag(text):
        text = repair_utf8(text)
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

        windows = SlidingWindows(pieces_per_sentence, capacity, stride, window_for_empty=False)
        window_pieces = windows.gather(sentence_pieces.to_tensor(default_value=pad_id), pad_id)
        window_words = windows.gather(sentence_first_words.to_tensor(default_value=-1), -1)
        predicts = tf.logical_and(windows.is_max_context(), window_words >= 0)
        longest = tf.maximum(tf.reduce_max(tf.concat([windows.lengths, [0]], 0)), 1)
        features = pack_single_segments(window_pieces[:, :longest], windows.lengths, longest + 2, cls_id, sep_id, pad_id)
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


def question_answerer_function(
    model,
    tokenizer,
    sequence_length,
    doc_stride=128,
    max_query_length=64,
    n_best_size=20,
    max_answer_length=30,
    version_2_with_negative=False,
    null_score_diff_threshold=None,
):
    """`serving_default` of an `AlbertQuestionAnswerer` (see the module table).

    As `keras_albert.question_answering`: the question is cut to
    `max_query_length` tokens, the context is tokenized word by word with
    character offsets and covered by `[CLS] question [SEP] window [SEP]`
    windows every `doc_stride` tokens, and the answer is decoded with
    `decode_answer`'s rules. `null_score_diff_threshold` defaults to the
    model's.
    """
    if null_score_diff_threshold is None:
        null_score_diff_threshold = model.null_score_diff_threshold
    if max_query_length + 4 > sequence_length:
        raise ValueError(
            f"`sequence_length={sequence_length}` leaves no room for the context after a question of "
            f"`max_query_length={max_query_length}` tokens and 3 special tokens."
        )
    decoder = AnswerSpanDecoder(n_best_size, max_answer_length, version_2_with_negative, null_score_diff_threshold)
    offsets = WordPieceOffsets(tokenizer)
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id

    @tf.function(input_signature=[_strings("question"), _strings("context")])
    def answer(question, context):
        question, context = repair_utf8(question), repair_utf8(context)
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
        windows = SlidingWindows(
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

        # [CLS] question [SEP] context [SEP], positions computed per window.
        total = window_question_lengths + windows.lengths + 3
        longest = tf.maximum(tf.reduce_max(tf.concat([total, [0]], 0)), 3)
        positions = tf.range(longest)[None, :]
        q_len = window_question_lengths[:, None]
        context_position = positions - q_len - 2
        in_question = tf.logical_and(positions >= 1, positions <= q_len)
        in_context = tf.logical_and(context_position >= 0, context_position < windows.lengths[:, None])

        def place(values, offset_positions, inside, pad):
            width = tf.shape(values)[1]
            index = tf.clip_by_value(offset_positions, 0, tf.maximum(width - 1, 0))
            index = tf.broadcast_to(index, tf.shape(inside))
            padded = tf.pad(values, [[0, 0], [0, 1]], constant_values=pad)
            return tf.where(inside, tf.gather(padded, index, batch_dims=1), pad)

        token_ids = place(window_ids, context_position, in_context, pad_id)
        token_ids = tf.where(in_question, place(window_question, positions - 1, in_question, pad_id), token_ids)
        token_ids = tf.where(positions == 0, cls_id, token_ids)
        is_sep = tf.logical_or(positions == q_len + 1, positions == total[:, None] - 1)
        token_ids = tf.where(is_sep, sep_id, token_ids)
        features = {
            "token_ids": token_ids,
            "segment_ids": tf.cast(tf.logical_and(positions >= q_len + 2, positions < total[:, None]), tf.int32),
            "padding_mask": tf.cast(positions < total[:, None], tf.int32),
        }
        outputs = model(features, training=False)
        token_offsets = tf.stack(
            [place(window_starts, context_position, in_context, -1), place(window_ends, context_position, in_context, -1)],
            axis=-1,
        )
        is_max_context = place(windows.is_max_context(), context_position, in_context, False)
        answers = decoder(
            outputs["start_logits"], outputs["end_logits"], token_offsets, is_max_context,
            windows.sequence_ids, batch_size,
        )
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


def resolve_sequence_length(model, sequence_length=None):
    """`sequence_length`, else the model's preprocessor's, else 512."""
    if sequence_length is not None:
        return sequence_length
    preprocessor = getattr(model, "preprocessor", None)
    return preprocessor.sequence_length if preprocessor is not None else 512


def serving_functions(
    model,
    tokenizer,
    sequence_length=None,
    label_names=None,
    text_pair=False,
    window_stride=None,
    doc_stride=128,
    max_query_length=64,
    n_best_size=20,
    max_answer_length=30,
    version_2_with_negative=False,
    null_score_diff_threshold=None,
):
    """The serving functions of a task model, by signature name.

    Args:
        model: an `AlbertTextClassifier`, `AlbertTokenClassifier`,
            `AlbertQuestionAnswerer` or `AlbertBackbone`.
        tokenizer: its `AlbertTokenizer`.
        sequence_length: int. Longest packed sequence; default: the
            model's preprocessor's, else 512.
        label_names: class names (classifier; default "0", "1", ...) or
            tags in class-id order (token classifier; required).
        text_pair: bool. The classifier takes sentence pairs
            (`text`, `text_pair`).
        window_stride: NER window stride in pieces (default half a window).
        doc_stride, max_query_length, n_best_size, max_answer_length,
        version_2_with_negative, null_score_diff_threshold: QA options, as
            `tasks/run_squad.py`.

    Returns:
        dict `{"serving_default": tf.function, "token_ids": tf.function}`.
    """
    task = task_of(model)
    preprocessor = getattr(model, "preprocessor", None)
    sequence_length = resolve_sequence_length(model, sequence_length)
    backbone = model if task == "embeddings" else model.backbone
    if sequence_length > backbone.max_sequence_length:
        raise ValueError(
            f"`sequence_length={sequence_length}` exceeds the model's {backbone.max_sequence_length} positions."
        )
    if preprocessor is None or preprocessor.sequence_length != sequence_length:
        preprocessor = AlbertPreprocessor(tokenizer, sequence_length=sequence_length)
    if task == "text_classifier":
        default = text_classifier_function(model, preprocessor, label_names, text_pair)
    elif task == "embeddings":
        default = embeddings_function(model, preprocessor)
    elif task == "token_classifier":
        if label_names is None:
            raise ValueError("A token classifier needs `label_names` (its tags in class-id order, the preset's task_metadata.json).")
        default = token_classifier_function(model, tokenizer, sequence_length, label_names, window_stride)
    else:
        default = question_answerer_function(
            model, tokenizer, sequence_length, doc_stride, max_query_length, n_best_size,
            max_answer_length, version_2_with_negative, null_score_diff_threshold,
        )
    return {DEFAULT_SIGNATURE: default, TOKEN_IDS_SIGNATURE: token_ids_function(model)}
