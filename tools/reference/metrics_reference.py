"""Similarity matrices and the metrics the original metrics.py computes on them.

Run offline (never at test time):
    /usr/bin/python3 tools/reference/metrics_reference.py tests/fixtures/reference/metrics

Writes <out>.safetensors (the matrices, f64) and <out>.json (expected metrics per matrix).
compute_metrics / tensor_text_to_video_metrics / tensor_video_to_text_sim below are written from
the spec (xclip-spec-detailed.md §8) with the original's numpy/torch calls: np.sort + np.where for
the ranks (ties contribute every tied position), np.median, a double torch.argsort for the
multi-sentence ranks, torch.median (lower middle), np.std for Std_Rank.
"""
import json
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import safetensors_np  # noqa: E402


def compute_metrics(x):
    sx = np.sort(-x, axis=1)
    d = np.diag(-x)[:, np.newaxis]
    ind = np.where(sx - d == 0)[1]
    return {"R1": float(np.sum(ind == 0)) * 100 / len(ind), "R5": float(np.sum(ind < 5)) * 100 / len(ind),
            "R10": float(np.sum(ind < 10)) * 100 / len(ind), "MR": float(np.median(ind) + 1),
            "MeanR": float(np.mean(ind) + 1), "count": int(len(ind))}


def tensor_text_to_video_metrics(sim_tensor, top_k=(1, 5, 10)):
    sim_tensor = torch.tensor(sim_tensor)
    stacked = sim_tensor.permute(1, 0, 2)
    first = torch.argsort(stacked, dim=-1, descending=True)
    second = torch.argsort(first, dim=-1, descending=False)
    ranks = torch.flatten(torch.diagonal(second, dim1=1, dim2=2))
    own = torch.flatten(torch.diagonal(sim_tensor, dim1=0, dim2=2))
    mask = ~torch.logical_or(torch.isinf(own), torch.isnan(own))
    valid = ranks[mask]
    out = {f"R{k}": float(torch.sum(valid < k) * 100 / len(valid)) for k in top_k}
    out["MR"] = float(torch.median(valid + 1))
    out["MeanR"] = float(np.mean(valid.numpy() + 1))
    out["Std_Rank"] = float(np.std(valid.numpy() + 1))
    out["count"] = int(len(valid))
    return out


def tensor_video_to_text_sim(sim_tensor):
    sim_tensor = torch.tensor(sim_tensor)
    sim_tensor[sim_tensor != sim_tensor] = float("-inf")
    values, _ = torch.max(sim_tensor, dim=1, keepdim=True)
    return torch.squeeze(values).T.numpy()


def main(out):
    rng = np.random.default_rng(3)
    mats, expected = {}, {}
    # Square matrices: continuous scores, quantised scores (many ties), a NaN diagonal entry,
    # and the two test vectors of the spec.
    mats["square_random"] = rng.normal(size=(60, 60)) + 2.0 * np.eye(60)
    mats["square_ties"] = np.round(rng.normal(size=(40, 40)) + 1.5 * np.eye(40), 1)
    nan = rng.normal(size=(12, 12)) + np.eye(12)
    nan[3, 3] = np.nan
    nan[5, 7] = np.nan
    mats["square_nan"] = nan
    mats["spec_ties"] = np.array([[1.0, 1.0], [0.0, 1.0]])
    mats["spec_3x3"] = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.8], [0.1, 0.7, 0.6]])
    for k in list(mats):
        expected[k] = {"t2v": compute_metrics(mats[k]), "v2t": compute_metrics(mats[k].T)}
    # Multi-sentence: 15 videos with 1..6 captions each, grouped [G, Lmax, G] and padded with -inf
    # (distinct continuous scores, so torch.argsort's tie order does not matter).
    counts = rng.integers(1, 7, size=15)
    caption_video = np.repeat(np.arange(15), counts)
    sim = rng.normal(size=(len(caption_video), 15))
    sim[np.arange(len(caption_video)), caption_video] += 1.5
    grouped = np.full((15, counts.max(), 15), -np.inf)
    for g in range(15):
        grouped[g, :counts[g]] = sim[caption_video == g]
    mats["multi_sim"] = sim
    mats["multi_caption_video"] = caption_video.astype(np.int64)
    expected["multi"] = {"t2v": tensor_text_to_video_metrics(grouped),
                         "v2t": compute_metrics(tensor_video_to_text_sim(grouped))}
    safetensors_np.save(out + ".safetensors", mats, {"made_by": "tools/reference/metrics_reference.py"})
    with open(out + ".json", "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
    print(f"wrote {out}.safetensors and {out}.json")


if __name__ == "__main__":
    main(sys.argv[1])
