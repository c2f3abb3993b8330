"""model.onnx loads in the tools people deploy with: it passes ONNX's
checker, and onnxruntime's logits on real images agree with parsec's (the
C export's, which the suite checks against parsec's own) within
1e-4 + 1e-4 |logit|.

    onnx_check.py MODEL.onnx IMAGES LIMIT LOGITS.npy [LOGITS.npy ...]

IMAGES: an IDX file (.gz) of gray images, or an .npy of uint8 images
(N, H, W, C).

A model whose output is "probabilities" is an ensemble: its output is
held to the mean of the softmax of the members' logits, one file each.

Exits 77 (skipped) when onnx or onnxruntime is not installed.
"""
import gzip
import sys

try:
    import numpy as np
    import onnx
    import onnxruntime as ort
except ImportError as e:
    print(f"skipped: {e}")
    sys.exit(77)


def idx_images(path, limit):
    with gzip.open(path, "rb") as f:
        data = f.read()
    n, h, w = (int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(3))
    images = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, h, w)[:limit]
    return images.astype(np.float32) / 255


def npy_images(path, limit):
    images = np.load(path)[:limit]
    if images.ndim == 3:
        images = images[..., None]
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2)).astype(np.float32) / 255


def main():
    model_path, images_path, limit, logits_paths = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    ensemble = model.graph.output[0].name == "probabilities"
    for key in ("genotypes" if ensemble else "genotype", "class_names", "input"):
        if not meta.get(key):
            sys.exit(f"FAIL: the model's metadata lacks {key}")
    images = npy_images(images_path, limit) if images_path.endswith(".npy") else idx_images(images_path, limit)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    got = session.run([model.graph.output[0].name], {"images": images})[0]
    logits = [np.load(p).astype(np.float64) for p in logits_paths]
    if ensemble:
        soft = [np.exp(x - x.max(1, keepdims=True)) for x in logits]
        want = np.mean([p / p.sum(1, keepdims=True) for p in soft], axis=0)
        if int(meta["members"]) != len(logits):
            sys.exit(f"FAIL: the model has {meta['members']} members, {len(logits)} logits files were given")
    else:
        want = logits[0]
    if got.shape != want.shape:
        sys.exit(f"FAIL: onnxruntime gives logits of shape {got.shape}, parsec {want.shape}")
    diff = np.abs(got - want)
    bad = int((diff > 1e-4 + 1e-4 * np.abs(want)).sum())
    agree = float((got.argmax(1) == want.argmax(1)).mean())
    what = f"probabilities of {len(logits)} members" if ensemble else "logits"
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}: {got.shape[0]} images x {got.shape[1]} {what}, "
          f"largest difference {diff.max():.3g}, {bad} beyond 1e-4 + 1e-4 |x|, predictions agree on {agree:.1%}; "
          f"class names {meta['class_names'][:40]}...")
    sys.exit(1 if bad else 0)


main()
