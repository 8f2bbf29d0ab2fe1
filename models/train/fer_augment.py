"""Faces as a video shows them: FER2013 images re-framed the way the product frames faces, and augmentation for
pose, blur, scale, lighting and compression.

:func:`aligned_faces` puts each 48x48 image on the canvas the landmark extraction used
(``extract_fer_landmarks.fer_canvas``: upscaled to 256 px on a 640x480 grey frame) and cuts the crop the product
cuts at run time (``models.faces.align.aligned_crop`` from the MediaPipe landmarks); images without landmarks keep
their own framing. :func:`augment` is the training augmentation, batched on tensors.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

FER = 48


def aligned_faces(images: np.ndarray, landmarks: np.ndarray, found: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8 FER images + their (N, 478, 2+) landmarks in 48x48 pixels -> (N, 48, 48) uint8 crops
    framed by the run-time alignment (the original image where ``found`` is False)."""
    from moodscore.models.faces.align import aligned_crop
    from moodscore.models.train.extract_fer_landmarks import UPSCALE, fer_canvas

    out = np.array(images, dtype=np.uint8, copy=True)
    for i in np.flatnonzero(found):
        canvas, x0, y0 = fer_canvas(images[i])
        lm = landmarks[i, :, :2].astype(np.float64) * (UPSCALE / FER) + np.array([x0, y0], dtype=np.float64)
        out[i] = aligned_crop(canvas, lm)
    return out


def _gaussian_blur(x: Any, sigma: float) -> Any:
    import torch
    import torch.nn.functional as F

    r = max(1, math.ceil(2.5 * sigma))
    k = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=x.dtype) / sigma) ** 2)
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def augment(x: Any, size: int, gen: Any, *, video: bool = False) -> Any:
    """(B,1,48,48) float in [0,1] -> (B,1,size,size): random affine crop + flip, brightness/contrast, cutout.

    ``video=True`` widens the pose (rotation 15 degrees, scale 15%, a horizontal squeeze and shear for yaw) and adds
    what a video frame does to a face: lower resolution, blur, gamma and a lighting gradient, sensor noise."""
    import torch
    import torch.nn.functional as F

    b = x.shape[0]

    def u(*shape: int) -> Any:  # uniform in [-1, 1]
        return torch.rand(*shape, generator=gen) * 2 - 1

    def some(p: float) -> Any:
        return torch.rand(b, generator=gen) < p

    ang = u(b) * math.radians(15 if video else 12)
    scale = (size / FER) * (1 + u(b) * (0.15 if video else 0.12))  # fraction of the frame seen
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0)
    max_shift = 1 - size / FER
    tx, ty = (u(2, b) * max_shift).unbind(0)
    cos, sin = torch.cos(ang) * scale, torch.sin(ang) * scale
    sx = 1 + (u(b) - 1) * 0.06 if video else torch.ones(b)  # horizontal squeeze 0.88-1 (a turned head)
    shear = u(b) * 0.08 if video else torch.zeros(b)
    row0 = torch.stack([cos * flip * sx, -sin + shear * cos, tx], 1)
    row1 = torch.stack([sin * flip * sx, cos + shear * sin, ty], 1)
    theta = torch.stack([row0, row1], 1)
    grid = F.affine_grid(theta, [b, 1, size, size], align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if video:
        low = some(0.3).view(b, 1, 1, 1)  # the face was small in the frame: fewer pixels, upscaled
        r = int(torch.randint(14, size, (1,), generator=gen))
        small = F.interpolate(out, size=(r, r), mode="bilinear", align_corners=False, antialias=True)
        out = torch.where(low, F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False), out)
        blur = some(0.3).view(b, 1, 1, 1)  # defocus or motion
        sigma = 0.4 + 0.8 * float(torch.rand(1, generator=gen))
        out = torch.where(blur, _gaussian_blur(out, sigma), out)
        gamma = torch.exp(u(b, 1, 1, 1) * 0.4)
        out = out.clamp(1e-4, 1) ** gamma
        phi = torch.rand(b, generator=gen) * 2 * math.pi  # light from one side
        lin = torch.linspace(-1, 1, size)
        ramp = torch.cos(phi).view(b, 1, 1, 1) * lin.view(1, 1, 1, size) + torch.sin(phi).view(b, 1, 1, 1) * lin.view(
            1, 1, size, 1
        )
        amp = torch.rand(b, 1, 1, 1, generator=gen) * 0.2 * some(0.4).view(b, 1, 1, 1)
        out = out + amp * ramp
    contrast = 1 + u(b, 1, 1, 1) * (0.35 if video else 0.3)
    bright = u(b, 1, 1, 1) * 0.12
    m = out.mean(dim=(2, 3), keepdim=True)
    out = (out - m) * contrast + m + bright
    if video:
        noise = torch.rand(b, 1, 1, 1, generator=gen) * 0.03 * some(0.3).view(b, 1, 1, 1)
        out = out + noise * torch.randn(out.shape, generator=gen)
    out = out.clamp(0, 1)
    cut = size // 3  # cutout on half of the batch (a third with video augmentation)
    cy, cx = (torch.randint(0, size, (2, b), generator=gen)).unbind(0)
    yy = torch.arange(size).view(1, size, 1)
    xx = torch.arange(size).view(1, 1, size)
    box = ((yy - cy.view(b, 1, 1)).abs() <= cut // 2) & ((xx - cx.view(b, 1, 1)).abs() <= cut // 2)
    box &= some(0.3 if video else 0.5).view(b, 1, 1)
    return out.masked_fill(box.unsqueeze(1), 0.5)
