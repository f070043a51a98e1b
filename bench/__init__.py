"""Speed of keras-albert against the implementations users would pick instead.

`python -m bench.run` runs every scenario for this project and its peers
(keras-hub `AlbertBackbone`, HuggingFace `transformers` on PyTorch) on
identical shapes and data, each measurement in its own subprocess, and
writes a markdown table with ratios and a JSON file. See bench/README.md.
"""
