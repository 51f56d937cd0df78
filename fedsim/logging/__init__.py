"""Where results go: TensorBoard, the console and summary.json."""
