"""Linear probes of a checkpoint's LLaVA features: how well each shape patch's colour and kind can
be read off the vision encoder's layer -2 states and off the projector's output (held-out seed
777, 3000 scenes to fit, 1000 to test). Tells "the features lack it" from "the LM does not use it".

    /usr/bin/python3 models/recipes/tiny-shapes/probe_features.py ck.pt
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import train as T  # noqa: E402


def probe(X, y, n_fit):
    """Accuracy on the shape patches (y > 0) of a softmax probe fitted on the first n_fit scenes."""
    Xtr, ytr = X[:n_fit].reshape(-1, X.shape[-1]), y[:n_fit].reshape(-1)
    Xte, yte = X[n_fit:].reshape(-1, X.shape[-1]), y[n_fit:].reshape(-1)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-5
    lin = torch.nn.Linear(X.shape[-1], int(y.max()) + 1)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2)
    for _ in range(300):
        loss = F.cross_entropy(lin((Xtr - mu) / sd), ytr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = lin((Xte - mu) / sd).argmax(-1)
    fg = yte > 0
    return (pred[fg] == yte[fg]).float().mean().item()


def main():
    torch.set_num_threads(2)
    torch.manual_seed(0)
    _ck, spec, _tok, model, _tenc, _text = T.load_checkpoint(sys.argv[1])
    model.eval()
    n, n_fit = 4000, 3000
    scs, imgs = T.make_pool(T.EVAL_SEED, n, aug=False)
    local, _, _ = T.patch_targets(spec, scs, model.cfg.vision.patch_size)
    H = T.precompute_features(model, imgs, dtype=torch.float32)
    with torch.no_grad():
        P = model.projector(H)
    for name, X in (("layer -2", H), ("projector", P)):
        for j, group in ((0, "colour"), (1, "kind")):
            print(f"{name:10s} {group:6s} {probe(X, local[..., j], n_fit):.3f}")


if __name__ == "__main__":
    main()
