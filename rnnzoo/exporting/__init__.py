"""Export: trace to ONNX, lower, check the graph, write variants, check parity, write the card."""
