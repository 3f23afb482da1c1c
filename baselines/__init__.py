"""Baseline models (RLE, DCPose, single-frame heatmap), registered in the same registry as DSTA."""
