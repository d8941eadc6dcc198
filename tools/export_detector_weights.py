"""Convert the learned watermark detector's ONNX file into plain numpy arrays for lib/watermark_detector.py.

Run once from the repo root with the dev venv, after tools/train_watermark.py produced a new detector:
    .venv/bin/python tools/export_detector_weights.py
    (defaults: tools/models/watermark_detector.onnx, the training output -> lib/models/watermark_detector.npz)
Needs numpy only: the ONNX file is read with the small protobuf reader below, so the `onnx` package is not
required. With onnxruntime installed (the dev venv has it) the script also checks the numpy network on the
new file against onnxruntime on a random image and refuses to write a file that disagrees.

What the export holds (checked here, refused otherwise): the U-Net of tools/train_watermark.py with its
BatchNorms folded into the convolutions by the exporter (every 3x3 conv has a bias, no BatchNormalization
node), i.e. Mul(2) Sub(1) on the input, 9 blocks of two Conv3x3+ReLU, MaxPool 2x2 down, nearest Resize x2
up, Concat(upsampled, skip), a 1x1 head and a Sigmoid. Arrays are stored under the PyTorch module names
("down.0.0.weight", "up.3.3.bias", "head.weight", ...) in ONNX layout (out, in, kh, kw), float32.
"""

import argparse
import os
import re
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE = os.path.join(ROOT, "tools", "models", "watermark_detector.onnx")
TARGET = os.path.join(ROOT, "lib", "models", "watermark_detector.npz")

# ---------- a minimal protobuf reader: just what ONNX ModelProto/GraphProto/NodeProto/TensorProto need ----------


def _varint(data, i):
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _fields(data):
    """(field number, wire type, value) for each field of one serialized message."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            length, i = _varint(data, i)
            value, i = data[i:i + length], i + length
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _packed_ints(wire, value):
    if wire == 0:
        return [value]
    out, i = [], 0
    while i < len(value):
        v, i = _varint(value, i)
        out.append(v)
    return out


def _tensor(data):
    """TensorProto -> (name, float32 array). Only float tensors stored as raw_data or float_data."""
    dims, dtype, name, raw, floats = [], None, "", None, []
    for number, wire, value in _fields(data):
        if number == 1:
            dims += _packed_ints(wire, value)
        elif number == 2:
            dtype = value
        elif number == 8:
            name = value.decode()
        elif number == 9:
            raw = value
        elif number == 4:
            floats += list(struct.unpack(f"<{len(value) // 4}f", value)) if wire == 2 else [struct.unpack("<f", value)[0]]
        elif number in (13, 14):
            raise ValueError("external tensor data is not supported")
    if dtype != 1:  # TensorProto.FLOAT
        raise ValueError(f"tensor {name!r}: data type {dtype}, expected float32")
    array = np.frombuffer(raw, "<f4").copy() if raw is not None else np.array(floats, np.float32)
    return name, array.reshape(dims) if dims else array.reshape(())


def _attribute(data):
    name, value = "", None
    for number, wire, v in _fields(data):
        if number == 1:
            name = v.decode()
        elif number == 2:
            value = struct.unpack("<f", v)[0]
        elif number == 3:
            value = v
        elif number == 4:
            value = v.decode()
        elif number == 5:
            value = _tensor(v)[1]
        elif number == 8:
            value = (value or []) + _packed_ints(wire, v)
    return name, value


def read_onnx(path):
    """(nodes, initializers): nodes as dicts {op, inputs, outputs, attrs}, initializers {name: array}."""
    with open(path, "rb") as f:
        model = f.read()
    graph = next(v for number, _, v in _fields(model) if number == 7)
    nodes, inits = [], {}
    for number, _, value in _fields(graph):
        if number == 1:
            node = {"op": None, "inputs": [], "outputs": [], "attrs": {}}
            for n, _, v in _fields(value):
                if n == 1:
                    node["inputs"].append(v.decode())
                elif n == 2:
                    node["outputs"].append(v.decode())
                elif n == 4:
                    node["op"] = v.decode()
                elif n == 5:
                    key, val = _attribute(v)
                    node["attrs"][key] = val
            nodes.append(node)
        elif number == 5:
            name, array = _tensor(value)
            inits[name] = array
    return nodes, inits


# ---------- the U-Net as exported ----------

WIDTHS = (16, 32, 64, 96, 128)
EXPECTED_OPS = (["Mul", "Sub"] + ["Conv", "Relu", "Conv", "Relu", "MaxPool"] * 4 + ["Conv", "Relu"] * 2
                + ["Resize", "Concat", "Conv", "Relu", "Conv", "Relu"] * 4 + ["Conv", "Sigmoid"])


def extract(nodes, inits):
    """{module name: float32 array} after checking the graph is the U-Net this project trains."""
    constants = {n["outputs"][0]: n["attrs"]["value"] for n in nodes if n["op"] == "Constant"}
    ops = [n for n in nodes if n["op"] != "Constant"]
    if [n["op"] for n in ops] != EXPECTED_OPS:
        raise ValueError("unexpected graph: " + " ".join(n["op"] for n in ops))
    value = lambda name: inits[name] if name in inits else constants[name]  # noqa: E731
    if float(value(ops[0]["inputs"][1])) != 2.0 or float(value(ops[1]["inputs"][1])) != 1.0:
        raise ValueError("the input is not scaled as image * 2 - 1")
    for node in ops:
        a = node["attrs"]
        if node["op"] == "Conv":
            k = a.get("kernel_shape")
            pads = [1, 1, 1, 1] if k == [3, 3] else [0, 0, 0, 0]
            if (k not in ([3, 3], [1, 1]) or a.get("pads", [0] * 4) != pads or a.get("strides", [1, 1]) != [1, 1]
                    or a.get("dilations", [1, 1]) != [1, 1] or a.get("group", 1) != 1 or len(node["inputs"]) != 3):
                raise ValueError(f"unexpected Conv attributes {a}")
        elif node["op"] == "MaxPool":
            if a.get("kernel_shape") != [2, 2] or a.get("strides") != [2, 2] or any(a.get("pads", [0] * 4)):
                raise ValueError(f"unexpected MaxPool attributes {a}")
        elif node["op"] == "Resize":
            scales = value(node["inputs"][2])
            if a.get("mode") != "nearest" or list(scales) != [1, 1, 2, 2]:
                raise ValueError(f"unexpected Resize {a} scales {scales}")
        elif node["op"] == "Concat" and a.get("axis") != 1:
            raise ValueError("Concat not on channels")
    weights = {}
    for node in (n for n in ops if n["op"] == "Conv"):
        found = re.search(r"/((?:down|up)\.\d+\.\d+|head)/Conv", node["outputs"][0])
        if not found:
            raise ValueError(f"cannot name the conv {node['outputs'][0]}")
        weights[found.group(1) + ".weight"] = value(node["inputs"][1]).astype(np.float32)
        weights[found.group(1) + ".bias"] = value(node["inputs"][2]).astype(np.float32)
    # Shapes: down i = Block(prev, w_i); up j = Block(w_{i+1} + w_i, w_i) for i = 3..0; head 1x1 to one channel.
    expect, c = {}, 3
    for i, w in enumerate(WIDTHS):
        expect[f"down.{i}.0"], expect[f"down.{i}.3"], c = (w, c, 3, 3), (w, w, 3, 3), w
    for j, i in enumerate(reversed(range(len(WIDTHS) - 1))):
        expect[f"up.{j}.0"], expect[f"up.{j}.3"] = (WIDTHS[i], WIDTHS[i + 1] + WIDTHS[i], 3, 3), (WIDTHS[i], WIDTHS[i], 3, 3)
    expect["head"] = (1, WIDTHS[0], 1, 1)
    for name, shape in expect.items():
        if weights[name + ".weight"].shape != shape or weights[name + ".bias"].shape != shape[:1]:
            raise ValueError(f"{name}: shape {weights[name + '.weight'].shape}, expected {shape}")
    if len(weights) != 2 * len(expect):
        raise ValueError("unexpected extra convolutions")
    return weights


def check_against_onnxruntime(source, target):
    """Max abs difference between onnxruntime and lib/watermark_detector.py on a random 96x160 image."""
    import onnxruntime as ort

    sys.path.insert(0, ROOT)
    from lib import watermark_detector

    x = np.random.default_rng(0).random((96, 160, 3), dtype=np.float32)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    ref = session.run(None, {"image": x.transpose(2, 0, 1)[None]})[0][0, 0]
    got = watermark_detector.WatermarkDetector(path=target).probability(x)
    return float(np.abs(ref - got).max())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", default=SOURCE)
    parser.add_argument("--out", default=TARGET)
    args = parser.parse_args()
    weights = extract(*read_onnx(args.onnx))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp.npz"
    np.savez(tmp, **weights)
    try:
        diff = check_against_onnxruntime(args.onnx, tmp)
    except ImportError:
        diff = None
    if diff is not None and diff > 1e-4:
        os.remove(tmp)
        sys.exit(f"numpy and onnxruntime disagree by {diff:.2e}: {args.out} not written")
    os.replace(tmp, args.out)
    params = sum(a.size for a in weights.values())
    print(f"{args.out}: {len(weights)} arrays, {params} parameters, {os.path.getsize(args.out)} bytes;"
          f" max abs difference to onnxruntime {'not checked' if diff is None else f'{diff:.2e}'}")


if __name__ == "__main__":
    main()
