"""Names of the runtime backends (a module without heavy imports, so the CLI can list them instantly)."""

#: every ``--backend`` value: PyTorch, ONNX Runtime, OpenVINO (FP32 / bf16) and TorchScript
BACKEND_KINDS = ("torch", "onnxruntime", "openvino", "openvino-bf16", "torchscript")
