"""Analysis of finished runs: comparison reports (``fedsim report``) and TensorBoard serving."""
