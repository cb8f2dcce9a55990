"""Binary hash codes: binarisation, DHTA anchor codes, Hamming distances and bit packing.

A code is a ±1 vector of length K; a set of codes is an (n, K) numpy array or torch tensor
of any float or integer dtype. Every function accepts both array types, so model outputs
(torch) and stored databases (numpy) mix freely. The Hamming distance of two codes is
d_H(a, b) = (K - aᵀb) / 2.
"""

from __future__ import annotations

import numpy as np
import torch

from hashattack.errors import InputError

Array = np.ndarray | torch.Tensor
TIES = ("plus", "zero")   # anchor_code's rule for a tied bit: +1 (Algorithm 1) or 0 (the official code's np.sign)


def _as_tensor(x: Array, name: str = "the values") -> torch.Tensor:
    """Return `x` as a torch tensor, sharing memory with a numpy input where possible; a list becomes an array,
    anything that is not numbers (None, strings, objects) is a one-line InputError naming `name`."""
    if isinstance(x, torch.Tensor):
        return x
    array = np.asarray(x) if not isinstance(x, np.ndarray) else x
    if array.dtype.kind not in "biuf":
        raise InputError(f"{name} must be a numeric array or tensor, got {type(x).__name__} of {array.dtype} values")
    return torch.from_numpy(np.ascontiguousarray(array))


def _like(t: torch.Tensor, ref: object) -> Array:
    """Return `t` as the array type of `ref` (torch stays torch, anything else becomes numpy)."""
    return t if isinstance(ref, torch.Tensor) else t.cpu().numpy()


def _check_pm1(c: torch.Tensor, name: str) -> None:
    """Raise InputError unless every entry of `c` is -1 or +1."""
    bad = (c != 1) & (c != -1)
    if bool(bad.any()):
        raise InputError(f"{name} must contain only -1 and +1, got entry {c[bad][0].item()}")


def _as_codes(x: Array, name: str) -> torch.Tensor:
    """Validate a code matrix: 1-D (K,) is promoted to (1, K); return an (n, K) tensor, K >= 1."""
    c = _as_tensor(x, name)
    if c.ndim == 1:
        c = c.unsqueeze(0)
    if c.ndim != 2 or c.shape[1] < 1:
        raise InputError(f"{name} must have shape (n, K) or (K,) with K >= 1, got {tuple(c.shape)}")
    _check_pm1(c, name)
    return c


def positive_int(value: object, name: str) -> int:
    """Return `value` as an int, raising InputError unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def binarize(x: Array) -> Array:
    """Sign of real values with 0 mapped to +1.

    Args:
        x: numpy array or torch tensor of any shape and real dtype; NaN is rejected.
    Returns:
        ±1 values of the same shape, array type and dtype as `x`.
    """
    if isinstance(x, torch.Tensor):
        if x.is_floating_point() and bool(x.isnan().any()):
            raise InputError("binarize got NaN; expected real values")
        return torch.where(x >= 0, 1, -1).to(x.dtype)
    x = np.asarray(x)
    if np.issubdtype(x.dtype, np.floating) and np.isnan(x).any():
        raise InputError("binarize got NaN; expected real values")
    return np.where(x >= 0, 1, -1).astype(x.dtype)


def anchor_code(codes: Array, weights: Array | None = None, ties: str = "plus") -> Array:
    """Anchor code of DHTA (Algorithm 1, component voting).

    Bit j is +1 when the total weight of codes with bit j = +1 is at least the total weight
    of codes with bit j = -1, else -1; a tie gives +1. The result minimises the weighted sum
    of Hamming distances Σ_i w_i d_H(h, h_i) over all h in {-1, +1}^K (Theorem 1).
    `ties="zero"` gives 0 on a tied bit instead, as the official code's `np.sign` of the sum
    (DHTA's loss then ignores that bit). With unit weights a tie needs an even n.

    Args:
        codes: (n, K) ±1 codes, or a batch (B, n, K); n >= 1.
        weights: None (all 1), or non-negative finite weights of shape (n,), or (B, n) for a batch.
    Returns:
        (K,) anchor, or (B, K) for a batch; same array type and dtype as `codes`.
    """
    c = _as_tensor(codes, "codes")
    if c.ndim not in (2, 3) or c.shape[-2] < 1 or c.shape[-1] < 1:
        raise InputError(f"codes must have shape (n, K) or (B, n, K) with n, K >= 1, got {tuple(c.shape)}")
    _check_pm1(c, "codes")
    n = c.shape[-2]
    if weights is None:
        w = torch.ones(n, dtype=torch.float64, device=c.device)
    else:
        w = _as_tensor(weights, "weights").to(device=c.device, dtype=torch.float64)
        allowed = [(n,)] + ([(c.shape[0], n)] if c.ndim == 3 else [])
        if tuple(w.shape) not in allowed:
            raise InputError(f"weights must have shape {' or '.join(map(str, allowed))}, got {tuple(w.shape)}")
        bad = ~torch.isfinite(w) | (w < 0)
        if bool(bad.any()):
            raise InputError(f"weights must be non-negative and finite, got {w[bad][0].item()}")
    w = w.unsqueeze(-1)  # broadcasts over K (and over B for (n,) weights with batched codes)
    positive = c == 1
    w_pos = (w * positive).sum(dim=-2)
    w_neg = (w * ~positive).sum(dim=-2)
    if ties == "zero":
        return _like(torch.sign(w_pos - w_neg).to(c.dtype), codes)
    if ties != "plus":
        raise InputError(f"ties must be 'plus' (Algorithm 1) or 'zero' (the official code's np.sign), got {ties!r}")
    return _like(torch.where(w_pos >= w_neg, 1, -1).to(c.dtype), codes)


def hamming_distance(a: Array, b: Array) -> Array:
    """Pairwise Hamming distances between two sets of ±1 codes.

    Args:
        a: (n, K) codes; a 1-D (K,) input is treated as one row (1, K).
        b: (m, K) codes; likewise 1-D is promoted to (1, K).
    Returns:
        (n, m) int64 distances: a torch tensor (on `a`'s device) if `a` or `b` is a tensor,
        else a numpy array.
    """
    ta, tb = _as_codes(a, "a"), _as_codes(b, "b")
    if ta.shape[1] != tb.shape[1]:
        raise InputError(f"a and b must have the same code length K, got {ta.shape[1]} and {tb.shape[1]}")
    k = ta.shape[1]
    dot = ta.to(torch.float32) @ tb.to(device=ta.device, dtype=torch.float32).T
    dist = ((k - dot) / 2).round().to(torch.int64)
    return dist if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor) else dist.cpu().numpy()


def pack_bits(codes: Array) -> np.ndarray:
    """Pack ±1 codes into bytes (bit 1 for +1), big-endian within each byte as np.packbits.

    Args:
        codes: (n, K) ±1 codes (numpy or torch).
    Returns:
        numpy uint8 array of shape (n, ceil(K / 8)); the last byte is zero-padded.
    """
    c = _as_tensor(codes, "codes")
    if c.ndim != 2 or c.shape[1] < 1:
        raise InputError(f"codes must have shape (n, K) with K >= 1, got {tuple(c.shape)}")
    _check_pm1(c, "codes")
    return np.packbits((c == 1).cpu().numpy(), axis=1)


def unpack_bits(packed: Array, n_bits: int) -> np.ndarray:
    """Inverse of `pack_bits`.

    Args:
        packed: (n, ceil(n_bits / 8)) uint8 array (numpy or torch).
        n_bits: code length K >= 1.
    Returns:
        numpy int8 array of ±1 codes, shape (n, n_bits).
    """
    p = _as_tensor(packed, "packed").cpu().numpy()
    n_bits = positive_int(n_bits, "n_bits")
    n_bytes = -(-n_bits // 8)
    if p.dtype != np.uint8 or p.ndim != 2 or p.shape[1] != n_bytes:
        raise InputError(
            f"packed must be a uint8 array of shape (n, {n_bytes}) for n_bits={n_bits}, "
            f"got {p.dtype} {p.shape}"
        )
    bits = np.unpackbits(p, axis=1, count=n_bits)
    return np.where(bits == 1, 1, -1).astype(np.int8)


def codes_to_hex(codes: Array) -> list[str]:
    """±1 codes (n, K) -> one hex string per code (bits packed as `pack_bits`, +1 = 1): compact JSON."""
    return [row.tobytes().hex() for row in pack_bits(codes)]


def codes_from_hex(hex_codes: list[str], n_bits: int) -> torch.Tensor:
    """Inverse of `codes_to_hex`: hex strings -> float32 ±1 codes (n, n_bits)."""
    n_bytes = -(-int(n_bits) // 8)
    try:
        raw = b"".join(bytes.fromhex(h) for h in hex_codes)
    except (TypeError, ValueError) as exc:
        raise InputError(f"codes must be hex strings of {n_bytes} bytes, got an invalid one ({exc})") from None
    if any(len(h) != 2 * n_bytes for h in hex_codes):
        raise InputError(f"every hex code of {n_bits} bits must have {2 * n_bytes} hex digits")
    packed = np.frombuffer(raw, dtype=np.uint8).reshape(len(hex_codes), n_bytes).copy()
    return torch.from_numpy(unpack_bits(packed, n_bits).astype(np.float32))
