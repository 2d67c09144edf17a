"""Continue a tiny-shapes checkpoint on CPU (used for the committed model, see models/README.md):

    /usr/bin/python3 models/recipes/tiny-shapes/finetune.py --ckpt ck.pt --out models/tiny-shapes \
        --zs-steps 1500 --steps2 3000

  zero-shot head  retrains the vision encoder's LAST layer, its pooling, visual_projection and the
                  text encoder (contrastive: multi-positive InfoNCE over the 48 labels + caption
                  InfoNCE) on precomputed layer -2 states. The LLaVA features (layer -2) do not
                  change, so this cannot hurt the chat model.
  stage 2 (more)  continues visual instruction tuning of projector + LM on precomputed layer -2
                  features (vision frozen): train.stage_vl with the feature cache, as train.py's
                  frozen phase.
  eval, export    as train.py (reference/ included).
"""
import argparse
import os
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", ".."))

import train as T  # noqa: E402

log = T.log


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "tiny-shapes"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pool", type=int, default=6000)
    ap.add_argument("--pool-seed", type=int, default=T.TRAIN_SEED + 1, help="another seed gives each round fresh scenes")
    ap.add_argument("--zs-steps", type=int, default=600)
    ap.add_argument("--zs-bs", type=int, default=64)
    ap.add_argument("--zs-lr", type=float, default=2e-3)
    ap.add_argument("--text-pool", default="mean")
    ap.add_argument("--zs-clip-w", type=float, default=0.25)
    ap.add_argument("--zs-aux-w", type=float, default=3.0)
    ap.add_argument("--steps2", type=int, default=3000, help="stage 2 steps on the cached features (0.36 s/step)")
    ap.add_argument("--bs2", type=int, default=32)
    ap.add_argument("--lr2", type=float, default=4e-4)
    T.add_dialogue_args(ap)
    ap.add_argument("--log-every", type=int, default=250)
    ap.add_argument("--eval-n", type=int, default=300)
    ap.add_argument("--save-ckpt", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ck, spec, tok, model, tenc, text = T.load_checkpoint(args.ckpt, text_pool=args.text_pool)
    logit_scale = ck["logit_scale"]
    log(f"loaded {args.ckpt}; args {vars(args)}")

    scs, imgs = T.make_pool(args.pool_seed, args.pool, aug=True)
    log(f"rendered {args.pool} scenes")
    # [n, 65, d] the LLaVA feature layer with CLS (the input of the last layer), float32
    H = T.precompute_features(model, imgs, keep_cls=True, dtype=torch.float32)
    log(f"precomputed layer {model.cfg.vision_feature_layer} states {tuple(H.shape)}")

    # ---- zero-shot head -------------------------------------------------------------------
    if args.zs_steps > 0:
        logit_scale = T.stage_zero_shot_head(model, tenc, tok, spec, scs, H, logit_scale, args.zs_steps, args.zs_bs,
                                             args.zs_lr, args.zs_clip_w, args.zs_aux_w, 0.0, 50)

    # ---- more stage 2 ---------------------------------------------------------------------
    if args.steps2 > 0:
        T.stage_vl(model, text, spec, (scs, imgs), args, stage=2, cache=H, seed=12)

    model.eval()
    if args.save_ckpt:
        torch.save({"model": model.state_dict(), "tenc": tenc.state_dict(), "logit_scale": logit_scale,
                    "args": ck["args"], "text_pool": args.text_pool}, args.save_ckpt)
    import json
    t = time.time()
    ev = T.evaluate(model, tenc, text, spec, logit_scale, n=args.eval_n)
    ev_aug = T.evaluate(model, tenc, text, spec, logit_scale, n=args.eval_n // 2, seed=T.EVAL_SEED + 1, aug=True)
    log("eval (held-out seed, plain render):", json.dumps(ev, indent=1))
    log("eval (held-out seed, augmented render):", json.dumps({k: v for k, v in ev_aug.items() if k != "per_type"}))
    T.export(model, tenc, tok, logit_scale, args.out)
    from make_reference import write_reference
    write_reference(model, tenc, text, spec, args.out)
    with open(os.path.join(args.out, "training_report.json"), "w") as fh:
        json.dump({"base_checkpoint_args": ck["args"], "finetune_args": vars(args), "eval": ev,
                   "eval_augmented": ev_aug, "finetune_s": time.time() - T.T0, "torch": torch.__version__}, fh, indent=2)
        fh.write("\n")
    log("done", f"{time.time() - T.T0:.0f}s")


if __name__ == "__main__":
    main()
