"""Index maps of the linear stateless primitives, for lowering them to Brian2 ``Synapses``.

Each function returns a :class:`LinearMap` for ONE batch element: synapse arrays
``pre`` (flat input index), ``post`` (flat output index) and ``w`` such that::

    y[post] = sum over synapses s with post[s] == post of  w[s] * x[pre[s]]   (+ bias[post])

Flat indices are row-major (C order) over the node's shape, e.g. ``(c * H + h) * W + w``
for a ``(C, H, W)`` tensor, which is also the order of NIR's ``Flatten``. Everything is
computed with numpy broadcasting: no Python loop runs over synapses.

Semantics follow torch: ``conv1d``/``conv2d`` (stride, zero padding or ``'same'``/
``'valid'``, dilation, groups, bias), ``avg_pool2d(count_include_pad=True)`` and a sum
pool (the same window sum without the division).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import primitives as P


@dataclass(frozen=True)
class LinearMap:
    """``y = W x + bias`` for one sample, ``W`` given as synapses (zeros dropped)."""

    pre: np.ndarray    # int64, flat input index
    post: np.ndarray   # int64, flat output index
    w: np.ndarray      # float64
    n_in: int
    n_out: int
    bias: np.ndarray | None = None  # float64 [n_out] or None

    def dense(self) -> np.ndarray:
        """The equivalent dense ``(n_out, n_in)`` matrix (for tests and small maps)."""
        m = np.zeros((self.n_out, self.n_in))
        np.add.at(m, (self.post, self.pre), self.w)
        return m


def _tuple(v, ndim: int, what: str) -> tuple[int, ...]:
    arr = np.atleast_1d(np.asarray(v)).astype(np.int64).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, ndim)
    if arr.size != ndim:
        raise ValueError(f"{what}={v!r}: expected {ndim} value(s)")
    return tuple(int(a) for a in arr)


def _drop_zeros(pre, post, w):
    keep = w != 0.0
    return pre[keep].astype(np.int64), post[keep].astype(np.int64), w[keep].astype(np.float64)


def matrix_map(weight: np.ndarray, bias: np.ndarray | None = None) -> LinearMap:
    """Affine/Linear: ``weight`` is ``(out, in)``."""
    w = np.asarray(weight, dtype=np.float64)
    n_out, n_in = w.shape
    post, pre = np.nonzero(w)  # row-major: all synapses of output 0 first
    b = None if bias is None else np.broadcast_to(np.asarray(bias, np.float64), (n_out,)).copy()
    return LinearMap(pre.astype(np.int64), post.astype(np.int64), w[post, pre], n_in, n_out, b)


def conv_padding(padding, kernel: tuple[int, ...], dilation: tuple[int, ...]
                 ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(before, after) zero padding per spatial dim; ``'same'`` splits like torch (the
    extra element goes after)."""
    ndim = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return (0,) * ndim, (0,) * ndim
        if padding == "same":
            total = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            before = tuple(t // 2 for t in total)
            return before, tuple(t - b for t, b in zip(total, before, strict=True))
        raise ValueError(f"padding={padding!r}: expected an int, a tuple, 'same' or 'valid'")
    p = _tuple(padding, ndim, "padding")
    return p, p


def window_map(in_shape: tuple[int, int, int], kernel: np.ndarray, stride: tuple[int, int],
               pad_before: tuple[int, int], pad_after: tuple[int, int],
               dilation: tuple[int, int], groups: int) -> tuple[LinearMap, tuple[int, ...]]:
    """The 2-D convolution map of ``kernel`` ``(Cout, Cin/groups, kh, kw)`` over an input
    ``(Cin, H, W)``; returns the map and the output shape ``(Cout, Ho, Wo)``."""
    cin, H, W = in_shape
    cout, cin_g, kh, kw = kernel.shape
    sy, sx = stride
    dy, dx = dilation
    Ho = (H + pad_before[0] + pad_after[0] - dy * (kh - 1) - 1) // sy + 1
    Wo = (W + pad_before[1] + pad_after[1] - dx * (kw - 1) - 1) // sx + 1
    cout_g = cout // groups
    # Six broadcast axes: (co, oy, ox, cl, ky, kx).
    co = np.arange(cout).reshape(-1, 1, 1, 1, 1, 1)
    oy = np.arange(Ho).reshape(1, -1, 1, 1, 1, 1)
    ox = np.arange(Wo).reshape(1, 1, -1, 1, 1, 1)
    cl = np.arange(cin_g).reshape(1, 1, 1, -1, 1, 1)
    ky = np.arange(kh).reshape(1, 1, 1, 1, -1, 1)
    kx = np.arange(kw).reshape(1, 1, 1, 1, 1, -1)
    iy = oy * sy - pad_before[0] + ky * dy
    ix = ox * sx - pad_before[1] + kx * dx
    ci = (co // cout_g) * cin_g + cl
    full = (cout, Ho, Wo, cin_g, kh, kw)
    iy, ix, ci, co_b, oy_b, ox_b = np.broadcast_arrays(iy, ix, ci, co, oy, ox)
    w = np.broadcast_to(kernel[co, cl, ky, kx], full)
    valid = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
    pre = ((ci * H + iy) * W + ix)[valid]
    post = ((co_b * Ho + oy_b) * Wo + ox_b)[valid]
    pre, post, w = _drop_zeros(pre, post, np.asarray(w, np.float64)[valid])
    return LinearMap(pre, post, w, cin * H * W, cout * Ho * Wo), (cout, Ho, Wo)


def conv2d_map(node: P.Conv2d, in_shape: tuple[int, ...]) -> LinearMap:
    kernel = np.asarray(node.weight, np.float64)
    k = tuple(kernel.shape[2:])
    dil = _tuple(node.dilation, 2, "dilation")
    before, after = conv_padding(node.padding, k, dil)
    m, out_shape = window_map(tuple(in_shape), kernel, _tuple(node.stride, 2, "stride"),
                              before, after, dil, int(node.groups))
    return _with_channel_bias(m, node, out_shape)


def conv1d_map(node: P.Conv1d, in_shape: tuple[int, ...]) -> LinearMap:
    kernel = np.asarray(node.weight, np.float64)[:, :, None, :]  # (Cout, Cin_g, 1, k)
    k = (1, int(kernel.shape[3]))
    dil = (1, _tuple(node.dilation, 1, "dilation")[0])
    before, after = conv_padding(node.padding, k[1:], dil[1:])
    c, n = in_shape
    m, out_shape = window_map((c, 1, n), kernel, (1, _tuple(node.stride, 1, "stride")[0]),
                              (0, before[0]), (0, after[0]), dil, int(node.groups))
    return _with_channel_bias(m, node, (out_shape[0], out_shape[2]))


def _with_channel_bias(m: LinearMap, node, out_shape: tuple[int, ...]) -> LinearMap:
    bias = getattr(node, "bias", None)
    if bias is None:
        return m
    b = np.broadcast_to(np.asarray(bias, np.float64).ravel(), (out_shape[0],))
    per_element = np.repeat(b, int(np.prod(out_shape[1:])))
    return LinearMap(m.pre, m.post, m.w, m.n_in, m.n_out, per_element)


def pool2d_map(node: P.SumPool2d | P.AvgPool2d, in_shape: tuple[int, ...]) -> LinearMap:
    """Sum or average (count_include_pad=True: divisor kh*kw) over each window, per
    channel."""
    c = int(in_shape[0])
    kh, kw = _tuple(node.kernel_size, 2, "kernel_size")
    value = 1.0 / (kh * kw) if isinstance(node, P.AvgPool2d) else 1.0
    # One (1, 1, kh, kw) kernel per channel with groups=C: a depthwise window.
    kernel = np.full((c, 1, kh, kw), value)
    pad = _tuple(node.padding, 2, "padding")
    m, _ = window_map(tuple(in_shape), kernel, _tuple(node.stride, 2, "stride"), pad, pad,
                      (1, 1), c)
    return m


#: primitive type -> (node, input shape) -> LinearMap
MAP_BUILDERS = {
    P.Affine: lambda node, in_shape: matrix_map(node.weight, node.bias),
    P.Linear: lambda node, in_shape: matrix_map(node.weight),
    P.Conv1d: conv1d_map,
    P.Conv2d: conv2d_map,
    P.SumPool2d: pool2d_map,
    P.AvgPool2d: pool2d_map,
}
