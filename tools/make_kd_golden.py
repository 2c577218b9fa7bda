#!/usr/bin/env python3
"""The distillation loss's reference (`trainer distill`), with PyTorch: Hinton's term
`T^2 * KLDivLoss(reduction="batchmean", log_target=True)(log_softmax(student / T),
log_softmax(teacher / T))` for fixed logits.

Run from the repository root (needs torch):

    python3 tools/make_kd_golden.py

Writes trainer/tests/golden/kd.json. Two cases: a model of one task (the whole output is one
head), and one of two tasks (heads of 3 and 2 classes, then the garment head of 2), where each
image's term is the sum of the KL over its own task's head and over the garment head, as the
trainer's cross-entropy is.
"""

import json
import os

import torch
import torch.nn.functional as F

OUT = os.path.join("trainer", "tests", "golden", "kd.json")


def kl(student, teacher, temperature):
    """PyTorch's KLDivLoss with log-target semantics, summed over the images (batchmean
    divides afterwards)."""
    loss = torch.nn.KLDivLoss(reduction="sum", log_target=True)
    return loss(
        F.log_softmax(student / temperature, dim=1), F.log_softmax(teacher / temperature, dim=1)
    )


def main():
    torch.manual_seed(0)
    cases = []
    # One task of four classes, five images.
    student, teacher = torch.randn(5, 4) * 3, torch.randn(5, 4) * 3
    for temperature in [1.0, 4.0]:
        batchmean = torch.nn.KLDivLoss(reduction="batchmean", log_target=True)(
            F.log_softmax(student / temperature, dim=1),
            F.log_softmax(teacher / temperature, dim=1),
        )
        cases.append(
            {
                "heads": [["a", 4]],
                "student": student.tolist(),
                "teacher": teacher.tolist(),
                "tasks": [0] * 5,
                "temperature": temperature,
                "loss": (batchmean * temperature**2).item(),
            }
        )
    # Two tasks (3 and 2 classes) and the garment head (2), six images of both tasks.
    student, teacher = torch.randn(6, 7) * 3, torch.randn(6, 7) * 3
    tasks = [0, 1, 1, 0, 0, 1]
    heads = [(0, 3), (3, 5)]
    garment = (5, 7)
    temperature = 2.0
    total = 0.0
    for image, task in enumerate(tasks):
        for start, end in [heads[task], garment]:
            total += kl(student[image : image + 1, start:end], teacher[image : image + 1, start:end], temperature)
    cases.append(
        {
            "heads": [["a", 3], ["b", 2]],
            "student": student.tolist(),
            "teacher": teacher.tolist(),
            "tasks": tasks,
            "temperature": temperature,
            "loss": (total / len(tasks) * temperature**2).item(),
        }
    )
    with open(OUT, "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()
