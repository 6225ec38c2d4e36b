"""The torch side of the local judge: find, convert, load a model; score labels over one cached prefix.

torch and transformers are imported inside the functions here, never when this
module is imported, so building a ``LocalJudge`` costs nothing until ``load()``.
Nothing here touches the network: every ``from_pretrained`` is ``local_files_only``
and ``HF_HUB_OFFLINE`` is set before transformers is first imported.

A GGUF file is converted once (config, tokenizer and de-quantised weights read
through transformers' GGUF reader) into a normal transformers folder in the user
cache (``$INTERVIEWER_CACHE_DIR`` or the platform cache folder), keyed by the
file's path, size and mtime, and stored in float16 unless a weight overflows it;
later loads read that copy (under a second for 135M, against ~10 s to convert).

Label scoring: the shared prefix (instructions, question, reference, answer) runs
through the model once into a KV cache. Each query (one keypoint, one
misconception) is a short suffix continued from that cache: the suffixes are
right-padded into a batch, the cache is expanded to the batch, positions continue
from the prefix length, and only the logits at each row's last real token are
computed. On a CPU a batch is closed before its padding passes 25% of its real
tokens (padding costs as much as real tokens there); on a GPU all queries share
one batch. The label probability is the softmax mass on the label's token(s),
normalised over the query's labels.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interviewer.config import cache_dir
from interviewer.judges.base import JudgeUnavailable

if TYPE_CHECKING:  # pragma: no cover
    import torch

INSTALL_HINT = "install the local-judge extra: pip install -e '.[local]' (torch, transformers, gguf)"
GGUF_CACHE_FORMAT = "1"  # bump to invalidate converted copies when the conversion changes
FP16_MAX = 65000.0


def _import_torch() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    try:
        import torch  # noqa: PLC0415
        import transformers  # noqa: PLC0415
        from transformers.utils import logging as hf_logging  # noqa: PLC0415
    except ImportError as exc:
        raise JudgeUnavailable(f"the local judge needs torch and transformers ({exc.name} is missing); {INSTALL_HINT}") from None
    # Progress bars and advisory warnings would scribble over the terminal UI.
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    return torch, transformers


# ---------------------------------------------------------------------------------------------- where the model is


@dataclass(frozen=True)
class ModelSource:
    folder: Path | None  # a transformers folder (config.json, weights, tokenizer)
    gguf: Path | None  # or a GGUF file, converted once into the cache

    @property
    def name(self) -> str:
        return str(self.gguf or self.folder)


def resolve_source(model_path: str | os.PathLike | None, gguf_file: str | os.PathLike | None) -> ModelSource:
    """Where the model is, or JudgeUnavailable saying what to set."""
    fix = (
        "set judge.local_model_path in the settings file to a transformers model folder (with config.json) "
        "or to a .gguf file; judge.local_gguf_file may name a .gguf file inside that folder"
    )
    if model_path is None and gguf_file is None:
        raise JudgeUnavailable(f"no local model configured: {fix}")
    base = Path(model_path).expanduser() if model_path is not None else None
    if gguf_file is not None:
        gguf = Path(gguf_file).expanduser()
        if not gguf.is_absolute() and base is not None:
            gguf = base / gguf
        if not gguf.is_file():
            raise JudgeUnavailable(f"local model file {gguf} does not exist: {fix}")
        return ModelSource(None, gguf.resolve())
    assert base is not None
    if base.is_file():
        if base.suffix.lower() != ".gguf":
            raise JudgeUnavailable(f"local model {base} is a file but not a .gguf file: {fix}")
        return ModelSource(None, base.resolve())
    if base.is_dir():
        if (base / "config.json").is_file():
            return ModelSource(base.resolve(), None)
        ggufs = sorted(base.glob("*.gguf"))
        hint = f" (it holds {ggufs[0].name}: set judge.local_gguf_file to it)" if ggufs else ""
        raise JudgeUnavailable(f"local model folder {base} has no config.json{hint}: {fix}")
    raise JudgeUnavailable(f"local model path {base} does not exist: {fix}")


def gguf_cache_folder(gguf: Path, root: Path | None = None) -> Path:
    """The converted copy of ``gguf``: keyed by its resolved path, size and mtime."""
    stat = gguf.stat()
    key = hashlib.sha256(f"{GGUF_CACHE_FORMAT}|{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", gguf.stem)[:60]
    return (root or cache_dir()) / "gguf" / f"{stem}-{key}"


def _complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and (folder / ".converted").is_file()


@contextlib.contextmanager
def _patched(module: Any, name: str, make: Any) -> Iterator[None]:
    """Replace ``module.name`` by ``make(original)`` for the duration; nothing when it does not exist."""
    original = getattr(module, name, None)
    if original is not None:
        setattr(module, name, make(original))
    try:
        yield
    finally:
        if original is not None:
            setattr(module, name, original)


def _conversion_patches(gguf_utils: Any) -> contextlib.ExitStack:
    """Fixes for transformers' GGUF reader, only while converting (they halve the conversion time).

    Its progress bar ignores transformers' switch and would scribble over the terminal UI; it
    rebuilds gguf's tensor-name map (a pure function of architecture and depth) once per module,
    about 400 times for a 30-layer model; and it parses the file three times. (Module attributes:
    a conversion runs once, under the judge's load lock.)"""
    import gguf  # noqa: PLC0415

    stack = contextlib.ExitStack()
    stack.enter_context(_patched(gguf_utils, "tqdm", lambda _original: lambda iterable=None, *args, **kwargs: iterable))
    stack.enter_context(_patched(gguf, "get_tensor_name_map", functools.lru_cache(maxsize=8)))
    # The config, the tokenizer and the weights each parse the whole file (its vocabulary is slow to read): once is enough.
    stack.enter_context(_patched(gguf, "GGUFReader", functools.lru_cache(maxsize=2)))
    return stack


def convert_gguf(gguf: Path, root: Path | None = None) -> Path:
    """Convert ``gguf`` into a transformers folder in the cache, once; return the folder.

    Written into a temporary folder and renamed into place, so a crash or a second
    process never leaves a half-written copy behind.
    """
    target = gguf_cache_folder(gguf, root)
    if _complete(target):
        return target
    torch, _ = _import_torch()
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415
    from transformers.initialization import no_init_weights  # noqa: PLC0415
    from transformers import modeling_gguf_pytorch_utils as gguf_utils  # noqa: PLC0415

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        # from_pretrained(folder, gguf_file=...) needs accelerate for the weights and, in transformers 5,
        # returns a GGUF-quantised model that cannot be saved; the config and tokenizer readers work,
        # and the checkpoint reader de-quantises the weights into a plain model.
        with _conversion_patches(gguf_utils):
            config = AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
            with no_init_weights():  # every weight is overwritten below (checked), so skip the random init
                model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
            tensors = gguf_utils.load_gguf_checkpoint(str(gguf), return_tensors=True, model_to_load=model, torch_dtype=torch.float32)["tensors"]
        result = model.load_state_dict(tensors, strict=False)
        tied = set(getattr(model, "_tied_weights_keys", None) or ()) if getattr(config, "tie_word_embeddings", False) else set()
        missing = sorted(set(result.missing_keys) - tied)
        if missing or result.unexpected_keys:
            raise ValueError(f"GGUF tensors do not fit the model (missing {missing[:5]}, unexpected {list(result.unexpected_keys)[:5]})")
        model.tie_weights()
        # Half the disk: de-quantised 4/8-bit weights lose nothing that matters in float16, unless they overflow it.
        if all(float(p.detach().abs().max()) < FP16_MAX for p in model.parameters()):  # False for NaN too
            model = model.to(torch.float16)
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        (tmp / ".converted").write_text(f"{gguf}\n", encoding="utf-8")
        if target.exists() and not _complete(target):
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(tmp, target)
        except OSError:
            if not _complete(target):  # another process finished first: use its copy
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


# ---------------------------------------------------------------------------------------------- the loaded model


@dataclass
class Runtime:
    model: Any
    tokenizer: Any
    device: Any
    dtype: Any
    source: ModelSource
    label_ids: dict[str, list[int]]  # label letter -> the single-token ids that spell it ("A", " A")
    eos_ids: set[int]
    max_positions: int | None
    loaded_from: Path  # the folder actually read (the cache copy for a GGUF)
    converted: bool  # True when this load converted the GGUF (False: cache hit or plain folder)


def pick_device(device: str) -> tuple[Any, Any]:
    """(torch.device, dtype): cuda when asked or available (bf16, else fp16), else cpu in fp32."""
    torch, _ = _import_torch()
    wanted = (device or "auto").strip().lower()
    if wanted == "auto":
        wanted = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(wanted)
    except RuntimeError as exc:
        raise JudgeUnavailable(f"judge.device {device!r} is not a torch device ({exc}); use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise JudgeUnavailable(f"judge.device is {device!r} but no CUDA GPU is usable here; set judge.device to auto or cpu")
        return dev, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return dev, torch.float32


def label_token_ids(tokenizer: Any, labels: Sequence[str]) -> dict[str, list[int]]:
    """For each label, the ids of its single-token spellings (" A", "A"); JudgeUnavailable unless distinct."""
    unknown = getattr(tokenizer, "unk_token_id", None)
    found: dict[str, list[int]] = {}
    for label in labels:
        ids = []
        for variant in (f" {label}", label):
            encoded = tokenizer.encode(variant, add_special_tokens=False)
            if len(encoded) == 1 and encoded[0] != unknown and encoded[0] not in ids:
                ids.append(encoded[0])
        if not ids:
            raise JudgeUnavailable(f"label {label!r} is not a single token in this model's tokenizer; the local judge cannot read its answer. Use another model")
        found[label] = ids
    seen: dict[int, str] = {}
    for label, ids in found.items():
        for token in ids:
            if token in seen:
                raise JudgeUnavailable(f"labels {seen[token]!r} and {label!r} are the same token in this model's tokenizer; use another model")
            seen[token] = label
    return found


def load_runtime(source: ModelSource, device: str, labels: Sequence[str]) -> Runtime:
    torch, _ = _import_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    dev, dtype = pick_device(device)
    converted = False
    if source.gguf is not None:
        folder = gguf_cache_folder(source.gguf)
        if not _complete(folder):
            folder = convert_gguf(source.gguf)
            converted = True
    else:
        assert source.folder is not None
        folder = source.folder
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    label_ids = label_token_ids(tokenizer, labels)  # before the (slow) weights: fail fast
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
    model.to(dev)
    model.eval()
    eos: set[int] = set()
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None), tokenizer.convert_tokens_to_ids("<|im_end|>")):
        for token in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(token, int) and token >= 0 and token != tokenizer.unk_token_id:
                eos.add(token)
    text_config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    max_positions = getattr(text_config, "max_position_embeddings", None)
    return Runtime(model, tokenizer, dev, dtype, source, label_ids, eos, max_positions, folder, converted)


# ---------------------------------------------------------------------------------------------- scoring


@dataclass
class TokenCount:
    """Tokens run through the model for one grade: what ``tokens_processed`` reports."""

    prefix: int = 0
    suffix: int = 0  # real suffix tokens of the label queries
    padding: int = 0  # pad positions in the suffix batches (computed, then discarded)
    feedback: int = 0  # the feedback prompt and the generated tokens
    forward_calls: int = 0
    no_reuse: int = 0  # what running the whole prefix again for every query and for the feedback would cost

    @property
    def total(self) -> int:
        return self.prefix + self.suffix + self.padding + self.feedback

    def as_dict(self) -> dict[str, int]:
        return {"prefix": self.prefix, "suffix": self.suffix, "padding": self.padding, "feedback": self.feedback, "total": self.total, "no_reuse": self.no_reuse}


@dataclass
class Query:
    ids: list[int]  # suffix token ids
    labels: list[str]  # label letters, in order


@dataclass
class PrefixState:
    cache: Any
    length: int
    ids: list[int] = field(repr=False)


class Scorer:
    """Runs one prefix once and label queries / a greedy continuation from its cache."""

    def __init__(self, runtime: Runtime, *, reuse_prefix: bool = True, max_batch: int = 16, pad_budget: float | None = None):
        self.rt = runtime
        self.reuse_prefix = reuse_prefix
        self.max_batch = max(1, max_batch)
        # On a CPU every padded position costs as much as a real one, so a batch is closed before its padding
        # exceeds this fraction of its real tokens; a GPU computes the padding in parallel, so one batch.
        self.pad_budget = pad_budget if pad_budget is not None else (0.25 if runtime.device.type == "cpu" else float("inf"))

    def batches(self, lengths: list[int]) -> list[list[int]]:
        """Indices of the queries, shortest first, grouped into batches (max_batch rows, bounded padding)."""
        order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
        groups: list[list[int]] = []
        for index in order:
            group = groups[-1] if groups else None
            if group is not None and len(group) < self.max_batch:
                real = sum(lengths[i] for i in group) + lengths[index]
                padding = lengths[index] * (len(group) + 1) - real  # the newcomer is the longest: everyone pads to it
                if padding <= self.pad_budget * real:
                    group.append(index)
                    continue
            groups.append([index])
        return groups

    def _tensor(self, rows: list[list[int]]) -> "torch.Tensor":
        import torch  # noqa: PLC0415

        return torch.tensor(rows, dtype=torch.long, device=self.rt.device)

    def prefix(self, ids: list[int], count: TokenCount) -> PrefixState:
        import torch  # noqa: PLC0415
        from transformers import DynamicCache  # noqa: PLC0415

        if not self.reuse_prefix:
            return PrefixState(None, len(ids), ids)
        cache = DynamicCache(config=self.rt.model.config)
        with torch.inference_mode():
            self.rt.model(input_ids=self._tensor([ids]), past_key_values=cache, use_cache=True, logits_to_keep=1)
        count.prefix += len(ids)
        count.forward_calls += 1
        return PrefixState(cache, len(ids), ids)

    def _expanded(self, state: PrefixState, rows: int) -> Any:
        cache = copy.deepcopy(state.cache)
        if rows > 1:
            cache.batch_repeat_interleave(rows)
        return cache

    def label_probabilities(self, state: PrefixState, queries: list[Query], count: TokenCount) -> list[dict[str, float]]:
        """Per query: {label: probability}, normalised over that query's labels."""
        import torch  # noqa: PLC0415

        out: list[dict[str, float] | None] = [None] * len(queries)
        for query in queries:
            count.no_reuse += state.length + len(query.ids)
        order = sorted(range(len(queries)), key=lambda i: len(queries[i].ids))
        with torch.inference_mode():
            if not self.reuse_prefix:
                for index in order:
                    ids = state.ids + queries[index].ids
                    logits = self.rt.model(input_ids=self._tensor([ids]), use_cache=False, logits_to_keep=1).logits[:, -1, :]
                    count.prefix += state.length
                    count.suffix += len(queries[index].ids)
                    count.forward_calls += 1
                    out[index] = self._read(logits[0], queries[index].labels)
            else:
                for chunk in self.batches([len(q.ids) for q in queries]):
                    width = max(len(queries[i].ids) for i in chunk)
                    pad = self.rt.tokenizer.pad_token_id if self.rt.tokenizer.pad_token_id is not None else next(iter(self.rt.eos_ids), 0)
                    rows = [queries[i].ids + [pad] * (width - len(queries[i].ids)) for i in chunk]
                    mask = torch.zeros((len(chunk), state.length + width), dtype=torch.long, device=self.rt.device)
                    for row, i in enumerate(chunk):
                        mask[row, : state.length + len(queries[i].ids)] = 1
                    positions = torch.arange(state.length, state.length + width, device=self.rt.device).unsqueeze(0).expand(len(chunk), -1)
                    last = torch.tensor([[len(queries[i].ids) - 1] for i in chunk], device=self.rt.device)
                    logits = self.rt.model(
                        input_ids=self._tensor(rows),
                        attention_mask=mask,
                        position_ids=positions,
                        past_key_values=self._expanded(state, len(chunk)),
                        use_cache=True,
                        logits_to_keep=last,
                    ).logits[:, -1, :]
                    count.suffix += sum(len(queries[i].ids) for i in chunk)
                    count.padding += sum(width - len(queries[i].ids) for i in chunk)
                    count.forward_calls += 1
                    for row, i in enumerate(chunk):
                        out[i] = self._read(logits[row], queries[i].labels)
        return [o or {} for o in out]

    def _read(self, logits: "torch.Tensor", labels: list[str]) -> dict[str, float]:
        probs = logits.float().softmax(-1)
        mass = [float(probs[self.rt.label_ids[label]].sum()) for label in labels]
        total = sum(mass)
        if not total > 0:  # underflow: every label equally (un)likely
            return {label: 1.0 / len(labels) for label in labels}
        return {label: m / total for label, m in zip(labels, mass)}

    def greedy(self, state: PrefixState, suffix: list[int], max_new_tokens: int, count: TokenCount) -> str:
        """A short greedy continuation of prefix + suffix (the feedback text)."""
        import torch  # noqa: PLC0415
        from transformers import DynamicCache  # noqa: PLC0415

        generated: list[int] = []
        with torch.inference_mode():
            if self.reuse_prefix:
                cache = self._expanded(state, 1)
                step = suffix
            else:
                cache = DynamicCache(config=self.rt.model.config)
                step = state.ids + suffix
            position = state.length + len(suffix) - len(step)
            limit = self.rt.max_positions or 1 << 30
            for _ in range(max_new_tokens):
                if position + len(step) >= limit:
                    break
                positions = torch.arange(position, position + len(step), device=self.rt.device).unsqueeze(0)
                logits = self.rt.model(input_ids=self._tensor([step]), position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1).logits
                count.feedback += len(step)
                count.no_reuse += len(step) + (state.length if self.reuse_prefix and position == state.length else 0)
                count.forward_calls += 1
                position += len(step)
                token = int(logits[0, -1].argmax())
                if token in self.rt.eos_ids:
                    break
                generated.append(token)
                step = [token]
        return self.rt.tokenizer.decode(generated, skip_special_tokens=True).strip()
