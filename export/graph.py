"""The export graph: a `Classifier` rewritten with 1-D convolutions, numerically the same function.

Why: the training model runs each stream through `Conv2d(1, c, (rows, k))` on `[B, 1, rows, T]` (the MM-Fit
layout). After `Unsqueeze` onnx2tf guesses the wrong layout for that 4-D tensor (NCHW->NHWC) and the
conversion fails ("Depth of output (4) is not a multiple of the number of groups (100)"). A convolution whose
kernel spans every row is exactly a `Conv1d(rows, c, k)` on `[B, rows, T]`, and later `(1, k)` kernels are
`Conv1d(c, c', k)`; so the export graph stays 3-D NCL end to end, which every converter handles, and the
`Gather` that picks a stream's rows becomes a contiguous slice where it can.

Input: z-scored float32 `[B, C, L]` in the checkpoint's channel order. Output: logits `[B, K]`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mujo_edge.errors import ConfigError
from mujo_edge.training.classifier import Classifier
from mujo_edge.training.models import PooledSensorEncoder, SensorEncoder, SpectralFeatures, spectrum_features


def _conv1d(conv: nn.Conv2d) -> nn.Conv1d:
    """A Conv2d whose kernel height equals its input height (so the output height is 1) as a Conv1d.

    Weight [c_out, c_in/g, kh, kw] -> [c_out, c_in/g * kh, kw]: the 1-D input channel index is
    (2-D channel, row) flattened channel-major, which is also how the input is reshaped in `forward`."""
    c_out, c_in_g, kh, kw = conv.weight.shape
    pad_h, pad_w = conv.padding if isinstance(conv.padding, tuple) else (conv.padding, conv.padding)
    if pad_h != 0 or conv.stride != (1, 1) or conv.dilation != (1, 1):
        raise ConfigError(f"cannot rewrite {conv} as a 1-D convolution", field="model")
    out = nn.Conv1d(conv.in_channels * kh, c_out, kw, padding=pad_w, groups=conv.groups, bias=conv.bias is not None)
    with torch.no_grad():
        out.weight.copy_(conv.weight.reshape(c_out, c_in_g * kh, kw))
        if conv.bias is not None and out.bias is not None:
            out.bias.copy_(conv.bias)
    return out


class SensorBranch1d(nn.Module):
    """Encoder + projection of one sensor stream: `[B, rows, T]` -> `[B, proj_dim]`."""

    def __init__(self, encoder: SensorEncoder, projection: nn.Module) -> None:
        super().__init__()
        rows, self.window = encoder.input_shape
        self.axes_as_channels = encoder.axes_as_channels
        self.rows = rows
        layers: list[nn.Module] = []
        for m in encoder.convs:
            if isinstance(m, nn.Conv2d):
                layers.append(_conv1d(m))
            elif isinstance(m, nn.MaxPool2d):
                k = m.kernel_size if isinstance(m.kernel_size, tuple) else (m.kernel_size, m.kernel_size)
                if k[0] != 1:
                    raise ConfigError(f"cannot rewrite {m} as a 1-D pool", field="model")
                layers.append(nn.MaxPool1d(k[1]))
            else:  # activations work elementwise whatever the rank
                layers.append(m)
        self.convs = nn.Sequential(*layers)
        self.head = encoder.head  # Flatten of [B, c, 1, t] and of [B, c, t] give the same order
        self.projection = projection

    def forward(self, x: Tensor) -> Tensor:
        if self.axes_as_channels:
            # training layout [B, 3 axes, sensors, T] flattened axis-major = rows reordered to (axis, sensor)
            sensors = self.rows // 3
            x = x.reshape(-1, sensors, 3, self.window).transpose(1, 2).reshape(-1, self.rows, self.window)
        return self.projection(self.head(self.convs(x)))


class SpectralConv(nn.Module):
    """`SpectralFeatures` as a grouped Conv1d whose kernels span the window: `[B, rows, T]` -> `[B, rows * bins]`
    (row-major, as `SpectralFeatures(x).flatten(1)`), the same function.

    Why: onnx2tf converts the MatMul of a channels-first tensor by transposing it back to ONNX order, and the
    convolutions that read the same tensor then see it channels-last ("Depth of output (32) is not a multiple of
    the number of groups (25)"). A convolution keeps the layout every converter tracks."""

    def __init__(self, spectral: SpectralFeatures, rows: int) -> None:
        super().__init__()
        self.spectrum = spectral.spectrum
        # kernel [rows * bins, 1, window]: output channel r * bins + k applies bin k to row r
        self.cos = self._basis_conv(spectral.cos, rows)
        self.sin = self._basis_conv(spectral.sin, rows)

    @staticmethod
    def _basis_conv(basis: Tensor, rows: int) -> nn.Conv1d:
        window, bins = basis.shape
        conv = nn.Conv1d(rows, rows * bins, window, groups=rows, bias=False)
        with torch.no_grad():
            conv.weight.copy_(basis.T.repeat(rows, 1)[:, None, :])
        return conv

    def forward(self, x: Tensor) -> Tensor:
        x = x - x.mean(dim=-1, keepdim=True)
        return spectrum_features(self.cos(x).flatten(1), self.sin(x).flatten(1), self.spectrum)


class PooledBranch1d(nn.Module):
    """A `PooledSensorEncoder` + projection, the same function with converter-friendly operators.

    Why: training computes each sensor's magnitude through a 4-D `[B, sensors, 3, T]` reshape and the spectrum
    by MatMul, and concatenates the kept channels-first input with them; onnx2tf guesses the layout of all three
    wrong. An identity entry convolution, squares summed by a fixed 1x1 convolution and `SpectralConv` keep
    every tensor `[B, C, T]` in a layout it tracks."""

    def __init__(self, encoder: PooledSensorEncoder, projection: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.projection = projection
        rows = encoder.input_shape[0]
        self.spectral = SpectralConv(encoder.spectral, rows + encoder.sensors) if encoder.spectral is not None else None
        # the input is kept channels-first for the runtime; a 1x1 identity convolution is where onnx2tf turns
        # it channels-last, so the concat that follows is read in the layout it tracks
        self.entry = nn.Conv1d(rows, rows, 1, bias=False)
        # sum of each sensor's three squared rows as a 1x1 convolution (onnx2tf slices a channels-last tensor
        # along the wrong axis)
        self.sum_sq = nn.Conv1d(rows, encoder.sensors, 1, bias=False) if encoder.sensors else None
        with torch.no_grad():
            self.entry.weight.copy_(torch.eye(rows)[:, :, None])
            if self.sum_sq is not None:
                self.sum_sq.weight.zero_()
                for s in range(encoder.sensors):
                    self.sum_sq.weight[s, 3 * s : 3 * s + 3] = 1.0

    def forward(self, x: Tensor) -> Tensor:
        enc = self.encoder
        x = self.entry(x)
        if self.sum_sq is not None:
            x = torch.cat([x, torch.sqrt(self.sum_sq(x * x) + 1e-12)], dim=1)
        return self.projection(enc.pooled(x, self.spectral))


def _select(rows: Sequence[int]) -> tuple[int, int] | None:
    """(start, stop) when `rows` is a contiguous ascending run (a Slice in the graph), else None (a Gather)."""
    start = rows[0]
    return (start, start + len(rows)) if list(rows) == list(range(start, start + len(rows))) else None


class ExportClassifier(nn.Module):
    """The classifier as exported: per stream a slice of the input rows, its 1-D branch, concat, the head."""

    def __init__(self, clf: Classifier) -> None:
        super().__init__()
        self.names = list(clf.streams)
        self.slices: list[tuple[int, int] | None] = []
        self.n_channels = 1 + max(r for rows in clf.streams.values() for r in rows)
        for i, s in enumerate(self.names):
            rows = clf.streams[s]
            self.slices.append(_select(rows))
            self.register_buffer(f"rows_{i}", torch.tensor(rows, dtype=torch.long), persistent=False)
        self.branches = nn.ModuleList()
        for s in self.names:
            name = clf.branch_of[s]
            encoder = clf.model.encoders[name]
            if isinstance(encoder, PooledSensorEncoder):  # already 1-D (Conv1d on [B, rows, T])
                self.branches.append(PooledBranch1d(encoder, clf.model.projections[name]))
            elif isinstance(encoder, SensorEncoder):
                self.branches.append(SensorBranch1d(encoder, clf.model.projections[name]))
            else:
                raise ConfigError(f"stream {s!r} is not a sensor stream", field="streams")
        self.head = clf.head
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        parts = []
        for i, branch in enumerate(self.branches):
            sl = self.slices[i]
            if sl == (0, self.n_channels):  # the whole input: no Slice node at all
                xs = x
            elif sl is not None:
                xs = x[:, sl[0] : sl[1]]
            else:
                xs = x.index_select(1, getattr(self, f"rows_{i}"))
            parts.append(branch(xs))
        return self.head(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])


def export_module(clf: Classifier) -> ExportClassifier:
    """The export graph of a classifier (shares its weights except the rewritten convolutions), in eval mode."""
    return ExportClassifier(clf.eval()).eval()
