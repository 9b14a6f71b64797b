"""Every user error: one clear line on stderr, exit code 2, nothing written, no traceback.

The command line is parsed and checked before any work starts, so these call ``main(argv)`` in this process;
one case runs as a user does, in a process of its own."""

import numpy as np
import pytest

from frameworks.spec import ModelSpec
from frameworks.weights import canonical_weights
from tests.clitools import alexbench, run_main
from tests.fake_backend import FAKES

RUN = ["run", "--frameworks", "fake-sleep", "--steps", "2", "--burn-in", "0"]

CASES = [
    (RUN + ["--frameworks", "caffe"], "unknown framework 'caffe'; choose from tensorflow, torch, jax"),
    (RUN + ["--modes", "backward"], "unknown mode 'backward'; choose from forward, forward_backward, train_step"),
    (RUN + ["--modes", ""], "--modes is empty"),
    (RUN + ["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    (RUN + ["--batch-size", "two"], "--batch-size must be an integer, got 'two'"),
    (RUN + ["--image-size", "56"], "--image-size must be >= 57, got 56"),
    (RUN + ["--steps", "0"], "--steps must be >= 1, got 0"),
    (RUN + ["--burn-in", "-1"], "--burn-in must be >= 0, got -1"),
    (RUN + ["--threads", "0"], "--threads must be >= 1, got 0"),
    (RUN + ["--timeout", "0"], "--timeout must be >= 1, got 0"),
    (RUN + ["--timeout", "soon"], "--timeout must be a number, got 'soon'"),
    (RUN + ["--lrn", "maybe"], "argument --lrn: invalid choice: 'maybe'"),
    (RUN + ["--device", "tpu"], "argument --device: invalid choice: 'tpu'"),
    (RUN + ["--label", "a/b"], "--label 'a/b' may hold only letters"),
    (RUN + ["--weights", "/nonexistent.npz"], "--weights /nonexistent.npz: no such file"),
    (RUN + ["--out", "/etc/hostname/results"], "--out /etc/hostname/results cannot be written"),
    (RUN + ["--bogus"], "unrecognized arguments: --bogus"),
    (RUN + ["--batch-size", "0", "--steps", "0", "--modes", "x"],
     "unknown mode 'x'; choose from forward, forward_backward, train_step; --batch-size must be >= 1, got 0; "
     "--steps must be >= 1, got 0"),
    (RUN + ["--precision", "fp8"], "unknown precision 'fp8'; choose from fp32, bf16, fp16"),
    (RUN + ["--precision", ","], "--precision is empty"),
    (RUN + ["--variant", "turbo"], "unknown variant 'turbo'; choose from default, all"),
    (RUN + ["--frameworks", "tensorflow,jax", "--variant", "xla"], "jax has none of the variants xla"),
    (RUN + ["--layout", "nhcw"], "unknown layout 'nhcw'; choose from native, nhwc, nchw"),
    (RUN + ["--batch-size", ","], "--batch-size is empty"),
    (RUN + ["--image-size", "64,32"], "--image-size must be >= 57, got 32"),
    (RUN + ["--modes", "train_step,backprop"], "unknown mode 'backprop'"),
    (RUN + ["--peak-seconds", "-1"], "--peak-seconds must be >= 0, got -1"),
    (RUN + ["--tf32", "maybe"], "argument --tf32: invalid choice: 'maybe'"),
    (RUN + ["--config", "/nonexistent.toml"], "--config /nonexistent.toml: no such file"),
    (["run", "--resume", "/nonexistent"], "/nonexistent is not a resumable run folder"),
    (["peak", "--frameworks", "caffe"], "unknown framework 'caffe'"),
    (["peak", "--seconds", "0"], "--seconds must be >= 0.1, got 0"),
    (["parity", "--frameworks", "caffe"], "unknown framework 'caffe'"),
    (["parity", "--image-size", "20"], "--image-size must be >= 57, got 20"),
    (["parity", "--images", "/nonexistent.npy"], "--images /nonexistent.npy: no such file"),
    (["layers", "--batch-size", "-3"], "--batch-size must be >= 1, got -3"),
    (["report", "/nonexistent"], "run folder /nonexistent does not exist"),
    (["compare", "/nonexistent", "/nonexistent"], "does not exist"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["ab", "fake-sleep"], "the following arguments are required: B"),
    (["ab", "caffe", "fake-sleep"], "unknown framework 'caffe'"),
    (["ab", "fake-sleep", "fake-sleep"], "A and B are both fake-sleep:default; name two different variants"),
    (["ab", "fake-sleep:turbo", "fake-slow"], "fake-sleep has no variant 'turbo'; choose from default"),
    (["ab", "tensorflow", "torch"], "tensorflow and torch are different frameworks"),
    (["ab", "torch", "torch:tuned"], "torch:tuned changes process-wide settings"),
    (["ab", "fake-sleep", "fake-slow", "--rounds", "1"], "--rounds must be >= 2, got 1"),
    (["ab", "fake-sleep", "fake-slow", "--modes", "backward"], "unknown mode 'backward'"),
    (["ab", "fake-sleep", "fake-slow", "--csv", "/nonexistent/ab.csv"], "--csv /nonexistent/ab.csv cannot be written"),
]


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a[len(RUN):] or a) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    if args[0] == "run" and "--out" not in args:
        args = args + ["--out", str(tmp_path / "results")]
    r = run_main(capsys, *args)
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("alexbench: error: "), r.stderr
    assert message in lines[0]
    assert "Traceback" not in r.stderr + r.stdout
    assert not (tmp_path / "results").exists()


def _weights_file(tmp_path, change):
    spec = ModelSpec(batch_size=1, image_size=66)
    w = canonical_weights(spec)
    change(w)
    path = tmp_path / "w.npz"
    np.savez(path, **w)
    return str(path)


@pytest.mark.parametrize("change, message", [
    (lambda w: w.pop("conv5/weights"), "lacks conv5/weights (expected shape [3, 3, 256, 256])"),
    (lambda w: w.update(bad=np.zeros(1)), "unexpected key bad"),
    (lambda w: w.update({"conv2/biases": np.zeros(7, np.float32)}), "conv2/biases has shape [7], expected [192]"),
])
@pytest.mark.parametrize("command", ["run", "parity"])
def test_weights_file_that_does_not_fit(tmp_path, capsys, change, message, command):
    path = _weights_file(tmp_path, change)
    extra = ["--frameworks", "fake-sleep", "--out", str(tmp_path / "results")] if command == "run" else []
    r = run_main(capsys, command, "--batch-size", "1", "--image-size", "66", "--weights", path, *extra)
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("images, message", [
    (np.zeros((1, 66, 66), np.float32), "rank 3, expected 4"),
    (np.zeros((1, 66, 66, 3), np.int32), "dtype int32, expected float32"),
    (np.zeros((2, 66, 66, 3), np.float32), "shape [2, 66, 66, 3], expected [1, 66, 66, 3]"),
])
def test_images_file_that_does_not_fit(tmp_path, capsys, images, message):
    path = tmp_path / "x.npy"
    np.save(path, images)
    r = run_main(capsys, "parity", "--batch-size", "1", "--image-size", "66", "--images", str(path))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_bad_command_line_in_a_process_of_its_own(tmp_path):
    r = alexbench("run", "--frameworks", "caffe", "--steps", "0", "--out", str(tmp_path / "results"))
    assert r.returncode == 2 and r.stdout == "", r.stdout
    assert r.stderr == "alexbench: error: unknown framework 'caffe'; choose from tensorflow, torch, jax, tf1-seed, " \
                       f"{', '.join(n for n in FAKES)}; --steps must be >= 1, got 0\n"
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("labels, message", [
    (np.zeros(1, np.float32), "dtype float32, expected integers"),
    (np.zeros((1, 1), np.int64), "shape [1, 1], expected [1]"),
    (np.array([1000]), "class id 1000, outside [0, 1000)"),
    (np.array([-1]), "class id -1, outside [0, 1000)"),
])
def test_labels_file_that_does_not_fit(tmp_path, capsys, labels, message):
    path = tmp_path / "y.npy"
    np.save(path, labels)
    r = run_main(capsys, "parity", "--batch-size", "1", "--image-size", "66", "--train", "--labels", str(path))
    assert r.returncode == 2 and message in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_labels_without_train_is_one_line(tmp_path, capsys):
    path = tmp_path / "y.npy"
    np.save(path, np.zeros(2, np.int64))
    r = run_main(capsys, "parity", "--labels", str(path), "--variant", "turbo")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "--labels are the training labels: give --train with them" in r.stderr and "unknown variant 'turbo'" \
        in r.stderr
