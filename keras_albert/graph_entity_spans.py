"""Word tags -> entity spans as TensorFlow ops, for serving graphs.

The same chunks as `keras_albert.token_labels.tags_to_spans` (seqeval's
`get_entities`, i.e. conlleval's chunking, lenient with invalid sequences).
seqeval decides whether a chunk ends or starts between two words from the
two tags alone, so its own `end_of_chunk` / `start_of_chunk` are evaluated
here for every pair of labels into two `[num_labels + 1, num_labels + 1]`
tables (the extra row is the "O" before the first and after the last word)
and the graph only looks them up: the rules are seqeval's, not a copy.
"""

import numpy as np
import tensorflow as tf
from seqeval.metrics.sequence_labeling import end_of_chunk, start_of_chunk


def _tag_and_type(label):
    """seqeval's split of a label into its prefix and entity type."""
    return label[0], label[1:].split("-", maxsplit=1)[-1] or "_"


class EntitySpanDecoder:
    """Entity spans of batches of tag-id sequences.

    Args:
        labels: list of str, the tag of each class id (e.g. `["B-loc",
            "I-loc", "O"]`).

    Example:
    ```python
    decoder = EntitySpanDecoder(["B-loc", "I-loc", "O"])
    spans = decoder(tf.constant([[0, 1, 2, 0]]), tf.constant([4]))
    spans["entity_types"]       # [[b"loc", b"loc"]]
    spans["entity_start_words"] # [[0, 3]]; `entity_end_words` [[1, 3]]
    ```
    """

    def __init__(self, labels):
        labels = list(labels) + ["O"]  # The boundary "O" is the last id.
        parts = [_tag_and_type(label) for label in labels]
        ends = np.zeros((len(labels), len(labels)), dtype=bool)
        starts = np.zeros((len(labels), len(labels)), dtype=bool)
        for previous, (previous_tag, previous_type) in enumerate(parts):
            for current, (tag, entity_type) in enumerate(parts):
                ends[previous, current] = end_of_chunk(previous_tag, tag, previous_type, entity_type)
                starts[previous, current] = start_of_chunk(previous_tag, tag, previous_type, entity_type)
        self.boundary_id = len(labels) - 1
        self.chunk_ends = tf.constant(ends)
        self.chunk_starts = tf.constant(starts)
        self.entity_types = tf.constant([entity_type for _, entity_type in parts])

    def __call__(self, tag_ids, num_words):
        """Entity spans of every sequence.

        Args:
            tag_ids: int `[batch, max_words]`; entries past `num_words` are
                ignored.
            num_words: int `[batch]`.

        Returns:
            dict of ragged `[batch, (num_entities)]` tensors:
            `entity_types` (string), `entity_start_words`,
            `entity_end_words` (int32, both inclusive, as seqeval).
        """
        tag_ids = tf.cast(tag_ids, tf.int32)
        batch_size, max_words = tf.shape(tag_ids)[0], tf.shape(tag_ids)[1]
        positions = tf.range(max_words + 1)
        boundary = tf.fill([batch_size, 1], self.boundary_id)
        in_sentence = positions[None, :max_words] < tf.cast(num_words, tf.int32)[:, None]
        tags = tf.concat([tf.where(in_sentence, tag_ids, self.boundary_id), boundary], axis=1)
        previous = tf.concat([boundary, tags[:, :-1]], axis=1)
        pairs = tf.stack([previous, tags], axis=-1)
        ends = tf.gather_nd(self.chunk_ends, pairs)  # A chunk ends just before i.
        starts = tf.gather_nd(self.chunk_starts, pairs)  # A chunk starts at i.
        # The chunk ending before i began at the last start before i.
        earlier_start = tf.logical_and(starts[:, None, :], positions[None, None, :] < positions[None, :, None])
        begins = tf.reduce_max(tf.where(earlier_start, positions[None, None, :], 0), axis=-1)
        return {
            "entity_types": tf.ragged.boolean_mask(tf.gather(self.entity_types, previous), ends),
            "entity_start_words": tf.ragged.boolean_mask(begins, ends),
            "entity_end_words": tf.ragged.boolean_mask(tf.broadcast_to(positions - 1, tf.shape(tags)), ends),
        }
