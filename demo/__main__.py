"""End-to-end demo on the bundled data in `demo/data/` (see ATTRIBUTION.md).

Runs the project's own command-line programs, in order, each in its own
process exactly as a user would:

1. `keras_albert.sentencepiece_trainer`: an ALBERT-recipe vocabulary trained
   on WikiText-2 and Tiny Shakespeare samples.
2. `tasks.create_pretraining_data` + `tasks.run_pretraining` (MLM + SOP) on
   the Wikipedia sample, with a tiny ALBERT config.
3. `tasks.run_ner`: fine-tunes the pretrained model on a WNUT-17 sample and
   reports entity F1 on a dev sample.
4. `export.saved_model`: a TF Serving SavedModel that takes raw text.
5. Loads the SavedModel in this process and tags a few sentences.

Usage: `python -m demo --output_dir demo_output` (what `make demo` runs).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "data")
TEXT_FILES = [
    os.path.join(DATA, "wikitext2_test_sample.txt"),
    os.path.join(DATA, "tinyshakespeare_sample.txt"),
]
# A tiny ALBERT in the original albert_config.json format: factorized
# embeddings (E=64 < H=128) and one shared group, as in the paper.
TINY_ALBERT_CONFIG = {
    "vocab_size": 4000,
    "embedding_size": 64,
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "intermediate_size": 512,
    "num_hidden_groups": 1,
    "inner_group_num": 1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "max_position_embeddings": 128,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
}
SENTENCES = [
    "I watched the new Star Wars movie in London with Barack Obama",
    "Apple released a new iPhone in California",
]


def run(step, *args):
    """Runs `python -m <args>` and stops the demo if it fails."""
    print(f"\n=== {step}: python -m {' '.join(args)}", flush=True)
    started = time.time()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    subprocess.run([sys.executable, "-m", *args], check=True, env=env)
    print(f"=== {step}: done in {time.time() - started:.0f} s", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", default="demo_output")
    parser.add_argument("--pretraining_steps", type=int, default=200)
    parser.add_argument("--ner_epochs", type=float, default=8.0)
    args = parser.parse_args()
    out = os.path.abspath(args.output_dir)
    os.makedirs(out, exist_ok=True)

    spm_prefix = os.path.join(out, "vocab", "spiece")
    run(
        "1/5 vocabulary",
        "keras_albert.sentencepiece_trainer",
        f"--input={','.join(TEXT_FILES)}",
        f"--vocab_size={TINY_ALBERT_CONFIG['vocab_size']}",
        f"--model_prefix={spm_prefix}",
    )
    spm_model = spm_prefix + ".model"
    config_path = os.path.join(out, "albert_config.json")
    with open(config_path, "w") as f:
        json.dump(TINY_ALBERT_CONFIG, f, indent=2)

    data_dir = os.path.join(out, "pretraining_data")
    run(
        "2/5 pretraining data",
        "tasks.create_pretraining_data",
        # ' = Title = ' lines start documents: sentence-order pairs stay in one article.
        f"--input_file={TEXT_FILES[0]}",
        "--input_format=wikitext",
        f"--output_dir={data_dir}",
        f"--spm_model_file={spm_model}",
        "--max_seq_length=64",
        "--max_predictions_per_seq=10",
        "--dupe_factor=2",
        "--num_shards=2",
    )
    pretrained = os.path.join(out, "pretrained")
    run(
        "2/5 pretraining (MLM + SOP)",
        "tasks.run_pretraining",
        f"--input_file={data_dir}",
        f"--albert_config_file={config_path}",
        f"--spm_model_file={spm_model}",
        f"--output_dir={pretrained}",
        "--do_train",
        "--max_seq_length=64",
        "--max_predictions_per_seq=10",
        "--train_batch_size=32",
        f"--num_train_steps={args.pretraining_steps}",
        "--learning_rate=2e-3",
    )

    ner_dir = os.path.join(out, "ner")
    run(
        "3/5 NER fine-tuning",
        "tasks.run_ner",
        f"--train_file={os.path.join(DATA, 'wnut17_train_sample.conll')}",
        f"--eval_file={os.path.join(DATA, 'wnut17_dev_sample.conll')}",
        f"--spm_model_file={spm_model}",
        f"--preset={pretrained}",
        f"--output_dir={ner_dir}",
        "--max_seq_length=64",
        "--do_train",
        "--do_eval",
        "--train_batch_size=32",
        "--learning_rate=2e-3",
        f"--num_train_epochs={args.ner_epochs}",
    )
    with open(os.path.join(ner_dir, "eval_results.json")) as f:
        ner = json.load(f)
    print(
        f"NER dev (seqeval): entity F1 {ner['f1']:.3f}, precision {ner['precision']:.3f}, recall "
        f"{ner['recall']:.3f}; {ner['num_predicted_entities']} entities predicted, {ner['num_gold_entities']} gold "
        f"(all metrics: {os.path.join(ner_dir, 'eval_results.json')}). A tiny model tuned for minutes on a sample "
        "finds few entities; the README has the full-data runs."
    )

    model_base = os.path.join(out, "serving", "albert_ner")
    run(
        "4/5 SavedModel export",
        "export.saved_model",
        f"--preset={ner_dir}",
        f"--model_base={model_base}",
        "--overwrite",
        "--version=1",
        "--max_seq_length=64",
    )

    print("\n=== 5/5 serving the SavedModel on raw text", flush=True)
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the in-graph tokenizer ops)

    served = tf.saved_model.load(os.path.join(model_base, "1"))
    signature = served.signatures["serving_default"]
    outputs = signature(**{next(iter(signature.structured_input_signature[1])): tf.constant(SENTENCES)})
    for name, value in sorted(outputs.items()):
        print(f"{name}: {value.numpy().tolist()}")
    print(f"\nDemo complete; everything is under {out}")


if __name__ == "__main__":
    main()
