"""The localizers' own unsupervised (self-supervised) objectives on a batch of pairs.

Both take a LocalizerOutput whose visual maps (B, D, h, w) and audio embeddings (B, D) are
L2-normalised, and treat the other clips of the batch as negatives.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from avsl.errors import AvslError
from avsl.types import LocalizerOutput

# EZ-VSL (Mo & Morgado 2022): temperature of the max-pooled similarity.
EZVSL_TAU = 0.03
# LVS (Chen et al. 2021): soft positive threshold, hard-negative threshold, region
# temperature, and the temperature of the final logits.
LVS_EPS = 0.65
LVS_EPS_NEGATIVE = 0.4
LVS_TAU = 0.03
LVS_LOGIT_TAU = 0.07


def cross_similarity(output: LocalizerOutput) -> Tensor:
    """S[i, j] = cos(visual map of clip i, audio of clip j): (B, B, h, w)."""
    return torch.einsum("ichw,jc->ijhw", output.visual, output.audio.to(output.visual.dtype))


def ezvsl_loss(output: LocalizerOutput, tau: float = EZVSL_TAU) -> Tensor:
    """Multiple-instance contrastive loss: logit(i, j) = max over (x, y) of S_ij / tau,
    cross-entropy over audio for each image and over images for each audio."""
    logits = cross_similarity(output).flatten(2).amax(dim=2) / tau  # (B, B)
    target = torch.arange(len(logits), device=logits.device)
    return F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)


def lvs_loss(
    output: LocalizerOutput,
    eps: float = LVS_EPS,
    eps_negative: float = LVS_EPS_NEGATIVE,
    tau: float = LVS_TAU,
    logit_tau: float = LVS_LOGIT_TAU,
) -> Tensor:
    """LVS's hard-way contrast: the own clip's soft positive region pooled against its own hard
    negative region (pixels below eps_negative) and against the other clips' responses."""
    sim = cross_similarity(output)  # (B, B, h, w)
    batch = len(sim)
    positive = torch.sigmoid((sim - eps) / tau)  # soft positive region of every pair
    pooled = (positive * sim).flatten(2).sum(2) / positive.flatten(2).sum(2).clamp(min=1e-6)  # (B, B)
    own = sim.diagonal(dim1=0, dim2=1).permute(2, 0, 1)  # (B, h, w)
    negative = 1 - torch.sigmoid((own - eps_negative) / tau)  # hard negatives of the own pair
    hard = (negative * own).flatten(1).sum(1) / negative.flatten(1).sum(1).clamp(min=1e-6)  # (B,)
    logits = torch.cat([pooled, hard[:, None]], dim=1) / logit_tau  # (B, B + 1)
    target = torch.arange(batch, device=sim.device)
    return F.cross_entropy(logits, target)


OBJECTIVES = {"ezvsl": ezvsl_loss, "lvs": lvs_loss}


def unsupervised_loss(objective: str, output: LocalizerOutput) -> Tensor:
    """The named localizer's own objective (its defaults from docs/method.md)."""
    if objective not in OBJECTIVES:
        raise AvslError(f"unknown unsupervised objective {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[objective](output)
