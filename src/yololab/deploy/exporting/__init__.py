"""Making deployable files: ONNX / OpenVINO / TorchScript export, parity checks and INT8 quantization."""
