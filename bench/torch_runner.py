"""HuggingFace `transformers` ALBERT on PyTorch, the peer most users pick."""

import torch

from bench import workloads


def huggingface_config(config):
    """`transformers.AlbertConfig` with the same architecture as `config`."""
    import transformers

    return transformers.AlbertConfig(
        vocab_size=config["vocabulary_size"],
        embedding_size=config["embedding_dim"],
        hidden_size=config["hidden_dim"],
        num_hidden_layers=config["num_layers"],
        num_attention_heads=config["num_heads"],
        intermediate_size=config["intermediate_dim"],
        num_hidden_groups=1,
        inner_group_num=1,
        hidden_act="gelu_new",  # ALBERT's tanh GELU, as keras-albert's default.
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout_prob=0.1,
        num_labels=workloads.NUM_CLASSES,
    )


class TorchRunner:
    """`AlbertForSequenceClassification` train steps and eval-mode predictions.

    Eager PyTorch with the default attention implementation (SDPA), AdamW
    (2e-5, weight decay 0.01), fp32: what a HuggingFace user runs.
    """

    def __init__(self, config, autocast_bfloat16=False):
        import contextlib

        import transformers

        # bf16 autocast is how a HuggingFace user runs mixed precision on a CPU.
        self.autocast = (
            (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if autocast_bfloat16 else contextlib.nullcontext
        )

        torch.manual_seed(0)
        self.model = transformers.AlbertForSequenceClassification(huggingface_config(config))
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=workloads.LEARNING_RATE, weight_decay=workloads.WEIGHT_DECAY
        )

    @staticmethod
    def split(batch):
        """Numpy batch -> (features dict, labels) as torch tensors."""
        features = {
            "input_ids": torch.from_numpy(batch["token_ids"]).long(),
            "token_type_ids": torch.from_numpy(batch["segment_ids"]).long(),
            "attention_mask": torch.from_numpy(batch["padding_mask"]).long(),
        }
        labels = torch.from_numpy(batch["labels"]).long() if "labels" in batch else None
        return features, labels

    def train_step(self, features, labels):
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            loss = self.model(**features, labels=labels).loss
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def predict(self, features):
        self.model.eval()
        with torch.inference_mode(), self.autocast():
            return self.model(**features).logits.float().numpy()
