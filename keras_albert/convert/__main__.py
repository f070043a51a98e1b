"""Command line: convert checkpoints to keras-albert presets, and back.

    python -m keras_albert.convert --source tf1 --input albert_base/ --output presets/albert_base_v2
    python -m keras_albert.convert --source huggingface --input hf_dir/ --output preset_dir/
    python -m keras_albert.convert --source keras_hub --input keras_hub_preset/ --output preset_dir/
    python -m keras_albert.convert --target huggingface --input preset_dir/ --output hf_dir/
    python -m keras_albert.convert --target keras_hub --input preset_dir/ --output keras_hub_preset/
    python -m keras_albert.convert --target tf1 --input preset_dir/ --output albert_release/

argparse rather than absl: `main(argv)` is called in-process (tests, the
task programs) without touching the global absl FLAGS the task programs own.
"""

import argparse
import logging
import sys

import keras_albert_cli
from keras_albert.convert import (
    SOURCES,
    TARGETS,
    TASKS,
    convert_checkpoint,
    export_checkpoint,
)


def build_parser():
    command = keras_albert_cli.invoked_command("keras_albert.convert")
    # The docstring's commands, as the user runs this one (`albert-convert` when installed).
    examples = [
        line.replace("python -m keras_albert.convert", command) for line in __doc__.splitlines() if "python -m" in line
    ]
    parser = argparse.ArgumentParser(
        prog=command,
        description="Convert ALBERT checkpoints (original TF1, HuggingFace, "
        "keras-hub) to keras-albert presets, and presets back to any of them.",
        epilog="Examples:\n" + "\n".join(examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    direction = parser.add_mutually_exclusive_group(required=True)
    direction.add_argument(
        "--source", choices=SOURCES, help="Format of --input; writes a keras-albert preset."
    )
    direction.add_argument(
        "--target", choices=TARGETS, help="Format to write from the keras-albert preset --input."
    )
    parser.add_argument(
        "--input",
        required=True,
        help="tf1: folder with albert_config.json and the checkpoint, or a "
        "checkpoint prefix; huggingface: a save_pretrained folder; "
        "keras_hub: a preset folder; with --target: a keras-albert preset.",
    )
    parser.add_argument("--output", required=True, help="Directory to write (all or nothing).")
    parser.add_argument(
        "--task",
        default="auto",
        choices=("auto",) + TASKS,
        help="Model to convert to: what the checkpoint holds (auto) or its bare backbone.",
    )
    parser.add_argument(
        "--albert_config_file", help="tf1: albert_config.json if not next to the checkpoint."
    )
    parser.add_argument(
        "--spm_model_file", help="SentencePiece model (default: the one in --input)."
    )
    parser.add_argument(
        "--do_lower_case",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Tokenizer lower-casing (default: the source's, else true).",
    )
    parser.add_argument(
        "--keep_accents",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Tokenizer keeps accents (default: the source's, else false).",
    )
    parser.add_argument("--overwrite", action="store_true", help="Replace a non-empty --output.")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.target:
        import_only = {
            "--task": args.task != "auto",
            "--albert_config_file": args.albert_config_file,
            "--do_lower_case": args.do_lower_case is not None,
            "--keep_accents": args.keep_accents is not None,
        }
        given = [flag for flag, used in import_only.items() if used]
        if given:
            parser.error(
                f"{', '.join(given)} can only be used with --source (a preset keeps its own)."
            )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.source:
            model = convert_checkpoint(
                args.source,
                args.input,
                args.output,
                spm_model_file=args.spm_model_file,
                task=args.task,
                albert_config_file=args.albert_config_file,
                lower_case=args.do_lower_case,
                keep_accents=args.keep_accents,
                overwrite=args.overwrite,
            )
        else:
            model = export_checkpoint(
                args.input,
                args.target,
                args.output,
                spm_model_file=args.spm_model_file,
                overwrite=args.overwrite,
            )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Wrote {type(model).__name__} to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
