"""The op profiler sorts a real train step's ops into the block's parts; speed is never asserted."""

import pytest

from bench import tf_profile


@pytest.mark.parametrize(
    "name, part",
    [
        ("gradient_tape/m/encoder/group_0_inner_0_1/ffn_intermediate_dense_1/MatMul/MatMul:_MklMatMul", "matmul"),
        ("m/encoder/group_0_inner_0_1/qkv_dense_1/BiasAdd:_MklNativeFusedMatMul", "matmul"),
        ("gradient_tape/m/encoder/group_0_inner_0_1/ffn_output_dense_1/MatMul/MatMul_1:_MklMatMul", "matmul"),
        ("m/encoder/group_0_inner_0_1/ffn_intermediate_dense_1/Gelu/Tanh:Tanh", "GELU"),
        # Training's XLA-compiled kernels, forward and backward.
        ("m/encoder/group_0_inner_0_1/Gelu/PartitionedCall:XLA", "GELU"),
        ("Gelu_gradient_1/PartitionedCall:XLA", "GELU"),
        ("m/encoder/group_0_inner_0_1/layer_norm_1/PartitionedCall:XLA", "LayerNorm"),
        ("layer_norm_gradient/PartitionedCall:XLA", "LayerNorm"),
        ("gradient_tape/m/encoder/group_0_inner_0_1/ffn_intermediate_dense_1/Cast/Cast/Cast:Cast", "casts of the weights"),
        ("m/encoder/group_0_inner_0_1/einsum/Einsum:_MklEinsum", "attention"),
        ("m/encoder/group_0_inner_0_1/attention_layer_norm_1/mul:Mul", "LayerNorm"),
        ("adam_w/Sqrt:Sqrt", "optimizer"),
    ],
)
def test_an_op_is_assigned_the_part_of_the_block_it_belongs_to(name, part):
    assert tf_profile.part_of(name) == part


TINY_TRAIN_STEP = ["--implementation=ours", "--size=tiny", "--batch_size=2", "--seq_length=8", "--steps=1"]


def test_a_tiny_train_step_spends_time_in_every_part_of_the_block(capsys):
    _, by_part = tf_profile.main(TINY_TRAIN_STEP)
    for part in ("matmul", "GELU", "LayerNorm", "attention", "optimizer"):
        assert by_part[part] > 0, part
    assert "| matmul |" in capsys.readouterr().out


def test_the_compiled_training_kernels_are_counted():
    _, by_type, _ = tf_profile.profile(tf_profile.parse_args(TINY_TRAIN_STEP))
    assert by_type["XLA"] > 0


def test_a_pytorch_row_is_refused_by_name(capsys):
    with pytest.raises(SystemExit):
        tf_profile.parse_args(["--implementation=hf_torch_bf16"])
    assert "hf_torch_bf16 is PyTorch" in capsys.readouterr().err


def test_a_bf16_row_without_onednn_kernels_is_refused_naming_the_variable(monkeypatch, capsys):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    with pytest.raises(SystemExit):
        tf_profile.parse_args(["--implementation=ours_bf16"])
    assert "TF_ENABLE_ONEDNN_OPTS=1" in capsys.readouterr().err


def test_a_folder_without_a_saved_model_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        tf_profile.parse_args([f"--saved_model={tmp_path}"])
    assert f"--saved_model={tmp_path} holds no saved_model.pb" in capsys.readouterr().err
